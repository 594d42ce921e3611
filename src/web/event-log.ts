// The page's "last events": tandem-hb's operational log lines and tandemd's events2 change lines,
// newest last, at most `limit` of them (a page is no log archive: the files keep everything).
import type { WebEvent } from './page-model.js';

export class EventLog {
  private readonly items: WebEvent[] = [];
  private listeners: Array<() => void> = [];

  constructor(private readonly limit = 40) {}

  push(e: WebEvent): void {
    this.items.push(e);
    if (this.items.length > this.limit) this.items.splice(0, this.items.length - this.limit);
    for (const l of this.listeners) l();
  }

  list(): readonly WebEvent[] {
    return this.items;
  }

  onPush(l: () => void): void {
    this.listeners.push(l);
  }
}
