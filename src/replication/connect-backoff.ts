// Delay between connect attempts in WFConnection: start small so a restarted peer is found fast,
// double after every failed attempt, never wait longer than connect-int (DRBD's retry period).

export class ConnectBackoff {
  private current: number;

  constructor(private readonly minMs: number, private readonly maxMs: number) {
    this.current = Math.min(minMs, maxMs);
  }

  /** The delay before the next attempt; the one after it will be twice as long (up to connect-int). */
  next(): number {
    const d = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return d;
  }

  reset(): void {
    this.current = Math.min(this.minMs, this.maxMs);
  }
}
