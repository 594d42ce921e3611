// The README's two ways to configure the Pacemaker story (pcs and crm), run against empty CIB files
// on a lab node and compared: both must produce the same cluster configuration. What "the same"
// means is the configuration a scheduler acts on: resources with their agents, parameters,
// monitor operations and meta attributes, groups, clones, constraints and the cluster options.
// Generated ids and the operations pcs adds from an agent's meta-data are not part of it.
import fs from 'node:fs';
import path from 'node:path';
import { elements } from '../../../src/ocf/cib-view.js';
import { REPO } from './lab.js';

/** The fenced code blocks that follow "With pcs" and "With crm" in the README's Pacemaker section. */
export function readmePacemakerBlocks(readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8')): { pcs: string[]; crm: string[] } {
  const block = (after: RegExp): string[] => {
    const at = readme.search(after);
    if (at < 0) throw new Error(`README: no paragraph matching ${after}`);
    const m = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(at));
    if (!m) throw new Error(`README: no code block after ${after}`);
    // a command continued with a trailing backslash is one command
    return m[1]!.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '');
  };
  return { pcs: block(/^With pcs/m), crm: block(/^With crm/m) };
}

/** The pcs lines that change the CIB file given with -f (not the fetch, the push or the status). */
export function pcsFileCommands(lines: string[]): string[][] {
  return lines
    .filter((l) => /^pcs -f \S+ /.test(l))
    .map((l) => splitWords(l).slice(3));
}

/** The crm configure lines between `crm configure` and `commit`. */
export function crmConfigureLines(lines: string[]): string[] {
  const from = lines.indexOf('crm configure');
  const to = lines.indexOf('commit');
  if (from < 0 || to < from) throw new Error('README: the crm block has no `crm configure` … `commit`');
  return lines.slice(from + 1, to);
}

/** Shell words of a command line (double quotes only, as the README uses them). */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

const ROLE: Record<string, string> = { Master: 'Promoted', Slave: 'Unpromoted' };
const role = (r: string | undefined): string => (r ? (ROLE[r] ?? r) : '');
const score = (s: string | undefined): string => {
  const v = (s ?? '').toLowerCase();
  return v === 'inf' || v === '+inf' || v === 'infinity' || v === '+infinity' ? 'INFINITY' : v === '-inf' || v === '-infinity' ? '-INFINITY' : (s ?? '');
};

function nvpairs(xml: string): string[] {
  return elements(xml, 'nvpair').map((n) => `${n.attrs.name}=${n.attrs.value}`).sort();
}

/** What a scheduler acts on, from a CIB's configuration section, as sorted lines. */
export function configurationSummary(cib: string): string[] {
  const config = elements(cib, 'configuration')[0]?.text ?? '';
  const out: string[] = [];
  const props = elements(config, 'crm_config')[0]?.text ?? '';
  for (const p of nvpairs(props)) if (!/^(have-watchdog|dc-version|cluster-infrastructure|cluster-name|last-lrm-refresh)=/.test(p)) out.push(`property ${p}`);
  for (const d of nvpairs(elements(config, 'rsc_defaults')[0]?.text ?? '')) out.push(`rsc_defaults ${d}`);
  const resources = elements(config, 'resources')[0]?.text ?? '';
  for (const p of elements(resources, 'primitive')) {
    const params = nvpairs(elements(p.text, 'instance_attributes')[0]?.text ?? '');
    const monitors = elements(p.text, 'op').filter((o) => o.attrs.name === 'monitor')
      .map((o) => `monitor ${o.attrs.interval}${o.attrs.role ? ` ${role(o.attrs.role)}` : ''}`).sort();
    out.push(`primitive ${p.attrs.id} ${p.attrs.class}:${p.attrs.provider ?? ''}:${p.attrs.type} ${params.join(' ')} | ${monitors.join(', ')}`);
  }
  for (const g of elements(resources, 'group')) out.push(`group ${g.attrs.id} ${elements(g.text, 'primitive').map((p) => p.attrs.id).join(' ')}`);
  for (const c of elements(resources, 'clone')) {
    const child = elements(c.text, 'group')[0] ?? elements(c.text, 'primitive')[0];
    // the clone's own meta attributes, not its child's
    const own = child ? c.text.replace(child.text, '') : c.text;
    const meta = elements(own, 'meta_attributes').flatMap((m) => nvpairs(m.text));
    out.push(`clone ${c.attrs.id} ${child?.attrs.id ?? '?'} ${meta.join(' ')}`);
  }
  const constraints = elements(config, 'constraints')[0]?.text ?? '';
  // a colocation's roles default to Started (pcs writes it out, crm does not)
  const colocRole = (r: string | undefined): string => (r && r !== 'Started' ? `:${role(r)}` : '');
  for (const c of elements(constraints, 'rsc_colocation')) {
    const a = c.attrs;
    out.push(`colocation ${a.rsc}${colocRole(a['rsc-role'])} with ${a['with-rsc']}${colocRole(a['with-rsc-role'])} ${score(a.score)}`);
  }
  for (const o of elements(constraints, 'rsc_order')) {
    const a = o.attrs;
    out.push(`order ${a.first}:${a['first-action'] ?? 'start'} then ${a.then}:${a['then-action'] ?? a['first-action'] ?? 'start'} ${a.kind ?? (a.score ? score(a.score) : 'Mandatory')}`);
  }
  for (const l of elements(constraints, 'rsc_location')) {
    for (const r of elements(l.text, 'rule')) {
      const exprs = elements(r.text, 'expression').map((e) => `${e.attrs.attribute} ${e.attrs.operation}${e.attrs.value !== undefined ? ` ${e.attrs.value}` : ''}`).join(` ${r.attrs['boolean-op'] ?? 'and'} `);
      out.push(`location ${l.attrs.rsc} rule ${role(r.attrs.role)} ${score(r.attrs.score)}: ${exprs}`);
    }
  }
  return out.sort();
}
