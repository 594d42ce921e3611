import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
describe('smoke', () => { it('loads addon', () => { const r = createRequire(import.meta.url); expect(typeof r('../../build/Release/tandem_native.node')).toBe('object'); }); });
