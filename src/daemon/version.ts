// Shown in the status file's first line, as /proc/drbd shows the module version.
export const TANDEM_VERSION = '0.1.0';
export const API_VERSION = 1;
export const PROTO_VERSION = 1;
