// DRBD's net { timeout; ko-count; }: "In case the secondary node fails to complete a single write
// request for count times the timeout, it is expelled from the cluster" (drbd.conf(5), 8.4). A
// peer that still answers pings but never acknowledges a write would otherwise stall the
// Primary's writes for ever; once expelled, the connection goes Timeout → WFConnection, the
// unacknowledged writes complete locally and are marked out of sync, and writes go on degraded.
// Pure: the resource calls tick() every `timeout` with the oldest write still waiting for the
// peer; the same write seen pending at ko-count consecutive ticks expels the peer (so after
// between ko-count and ko-count + 1 timeouts, as DRBD's request timer). ko-count 0 disables it.

export type KoVerdict = 'ok' | 'expel';

export class KoWatch {
  private watched: number | undefined;
  private ticks = 0;

  constructor(private readonly koCount: number) {}

  get enabled(): boolean {
    return this.koCount > 0;
  }

  tick(oldestPendingSeq: number | undefined): KoVerdict {
    if (oldestPendingSeq === undefined || oldestPendingSeq !== this.watched) {
      this.watched = oldestPendingSeq;
      this.ticks = 0;
      return 'ok';
    }
    this.ticks++;
    return this.enabled && this.ticks >= this.koCount ? 'expel' : 'ok';
  }
}
