// The slice of pino's Logger the peer link uses, so tests can pass a recorder and the daemon its
// pino child logger (with resource and peer already bound).
export interface LinkLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export const silentLogger: LinkLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
