// What the fencing handlers read from one `cibadmin -Q` document: the clone that runs a Tandem
// resource, a constraint by id, the cluster's nodes, a cluster property and a node's state. One
// query instead of one per question, as DRBD's crm-fence-peer.9.sh reads `cibadmin -Ql` once:
// each cibadmin run is a round trip to the CIB manager on the failover path. Pure.
//
// The CIB comes from libxml2's serialiser: attributes always in double quotes, `<`, `&` and `"`
// escaped in values, elements either `<x .../>` or `<x ...>...</x>`; clones, locations and
// node_state elements do not nest in themselves. That is what these scans rely on.
import type { NodeStateAttrs } from './fence-decisions.js';

function unescapeXml(v: string): string {
  return v.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** The attributes of an element's start tag (the text from `<tag` to its `>`). */
export function tagAttrs(startTag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const a of startTag.matchAll(/([\w:.-]+)="([^"]*)"/g)) attrs[a[1]!] = unescapeXml(a[2]!);
  return attrs;
}

/** Every `<tag ...>...</tag>` or `<tag .../>` in `xml`: its attributes and its whole text. */
export function elements(xml: string, tag: string): Array<{ attrs: Record<string, string>; text: string }> {
  const out: Array<{ attrs: Record<string, string>; text: string }> = [];
  const re = new RegExp(`<${tag}\\b([^>]*?)(/>|>)`, 'g');
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    let end = re.lastIndex;
    if (m[2] === '>') {
      const close = xml.indexOf(`</${tag}>`, end);
      end = close < 0 ? xml.length : close + tag.length + 3;
      re.lastIndex = end;
    }
    out.push({ attrs: tagAttrs(m[1]!), text: xml.slice(m.index, end) });
  }
  return out;
}

/** The first element `tag` in an XML text, or null. */
export function firstElementAttrs(xml: string, tag: string): Record<string, string> | null {
  return elements(xml, tag)[0]?.attrs ?? null;
}

/** The id of the clone whose primitive is an ocf:*:tandem with `resource=<name>`. */
export function cloneOfResource(cib: string, resource: string): string | null {
  for (const clone of elements(cib, 'clone')) {
    for (const prim of elements(clone.text, 'primitive')) {
      if (prim.attrs.type !== 'tandem') continue;
      if (elements(prim.text, 'nvpair').some((n) => n.attrs.name === 'resource' && n.attrs.value === resource)) return clone.attrs.id ?? null;
    }
  }
  return null;
}

/** A constraint (or any element) by tag and id: its whole text, or null. */
export function elementById(cib: string, tag: string, id: string): string | null {
  return elements(cib, tag).find((e) => e.attrs.id === id)?.text ?? null;
}

/** The cluster nodes' names, from the configuration's `<nodes>`. */
export function nodeNames(cib: string): string[] {
  const nodes = elements(cib, 'nodes')[0]?.text ?? '';
  return elements(nodes, 'node').map((n) => n.attrs.uname ?? '').filter((n) => n !== '');
}

/** A cluster property from `<crm_config>` (what `crm_attribute -t crm_config -n NAME -G` prints), or null. */
export function clusterProperty(cib: string, name: string): string | null {
  const config = elements(cib, 'crm_config')[0]?.text ?? '';
  return elements(config, 'nvpair').find((n) => n.attrs.name === name)?.attrs.value ?? null;
}

/** The `<node_state>` attributes of a node in the status section, or null when it has none. */
export function nodeState(cib: string, uname: string): NodeStateAttrs | null {
  const status = elements(cib, 'status')[0]?.text ?? '';
  const ns = elements(status, 'node_state').find((n) => n.attrs.uname === uname);
  return ns ? (ns.attrs as NodeStateAttrs) : null;
}
