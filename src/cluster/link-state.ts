// Carrier of network interfaces from sysfs: /sys/class/net/IFACE/carrier reads 1 with carrier,
// 0 without, and fails (EINVAL) when the interface is administratively down; a missing
// interface has no directory. Loopback always reads 1.
import fs from 'node:fs/promises';

export async function hasCarrier(iface: string, sysfs = '/sys/class/net'): Promise<boolean> {
  if (iface.includes('/') || iface === '.' || iface === '..') return false;
  try {
    return (await fs.readFile(`${sysfs}/${iface}/carrier`, 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}

export async function interfacesWithCarrier(ifaces: readonly string[], sysfs?: string): Promise<Set<string>> {
  const up = new Set<string>();
  await Promise.all(ifaces.map(async (i) => { if (await hasCarrier(i, sysfs)) up.add(i); }));
  return up;
}
