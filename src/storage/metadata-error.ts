// One error class for everything that can be wrong with on-disk metadata, with a code that the
// CLI and daemon switch on (tandemadm prints `message`; tandemd refuses to attach).
//
// Recovery path when metadata is unusable (ENOMETA after a resize, EBADSUM after a torn write or
// media corruption, EVERSION from a foreign tool, ESIZE after the backing device shrank):
//   1. make sure the peer holds good (UpToDate) data;
//   2. `tandemadm create-md --force RES` on this node (fresh metadata: Inconsistent,
//      current UUID = JUST_CREATED);
//   3. `tandemadm up RES`: on connect this node becomes SyncTarget and receives a full sync
//      from the peer, exactly as DRBD does after `drbdadm create-md` on a replaced disk.
// Without a good peer there is nothing to sync from: recreate the metadata and promote with
// `primary --force`, accepting whatever the local data area holds.

export type MetadataErrorCode =
  | 'ENOMETA'   // no Tandem superblock where one was expected
  | 'EBADSUM'   // superblock or checked area fails its CRC32C
  | 'EVERSION'  // a Tandem superblock of a format this code does not understand
  | 'ESIZE'     // sizes do not fit: device too small, shrank, or metadata slot too small
  | 'EEXIST'    // create-md found valid Tandem metadata and --force was not given
  | 'EFSSIG'    // create-md found a filesystem/volume signature and --force was not given
  | 'ECORRUPT'  // checksum is right but the fields contradict each other (a bug, or a crafted block)
  | 'EINVAL';   // a caller passed an impossible argument (al-extents out of range, bad node name…)

export class MetadataError extends Error {
  override readonly name = 'MetadataError';
  constructor(
    readonly code: MetadataErrorCode,
    message: string,
  ) {
    super(message);
  }
}
