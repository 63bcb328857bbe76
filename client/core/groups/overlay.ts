/**
 * Which members a device keeps connections to (see docs/PROTOCOL.md, "Groups: connections").
 *
 * The online members of a group, sorted by name, form a ring. Each one links to the members at
 * distance ±1, ±2, ±4, ±8 … around it, nearest first, until it has `maxLinks`. Everyone computes
 * the same ring from the same presence, so the choice is mutual; the ±1 links alone keep the ring
 * connected, and the longer ones keep the number of hops a message takes around log₂(n). When
 * the group is small enough, that is everyone.
 */
export function ringNeighbors(me: string, online: readonly string[], maxLinks: number): string[] {
  const ring = [...new Set([...online, me])].sort()
  const n = ring.length
  const at = ring.indexOf(me)
  const out: string[] = []
  const add = (i: number): void => {
    const m = ring[((i % n) + n) % n]
    if (m !== undefined && m !== me && !out.includes(m) && out.length < maxLinks) out.push(m)
  }
  if (n - 1 <= maxLinks) {
    for (let d = 1; d < n; d++) add(at + d)
    return out
  }
  for (let d = 1; d < n && out.length < maxLinks; d *= 2) {
    add(at + d)
    add(at - d)
  }
  return out
}

/**
 * One set of links for all of a device's groups, at most `maxLinks`: each group's neighbors in
 * their order of priority, taken in turns across groups (every group's ring neighbors come
 * before any group's longer links). Members shared by several groups count once.
 */
export function chooseLinks(perGroup: readonly (readonly string[])[], maxLinks: number): string[] {
  const chosen: string[] = []
  const longest = Math.max(0, ...perGroup.map((g) => g.length))
  for (let rank = 0; rank < longest && chosen.length < maxLinks; rank++) {
    for (const group of perGroup) {
      const m = group[rank]
      if (m !== undefined && !chosen.includes(m) && chosen.length < maxLinks) chosen.push(m)
    }
  }
  return chosen
}

/**
 * Who passes a message from `origin` on to whom: a breadth-first tree over the ring links of
 * `online` (everyone's `ringNeighbors`), neighbors visited in name order. Every member computes
 * the same tree from the same presence, so each online member gets a message once, from its
 * parent, over a link that is kept open anyway; a relay sends it only to its children. Returns
 * each reachable member's parent (the origin has none); empty when `origin` is not online.
 */
export function forwardingParents(
  origin: string,
  online: readonly string[],
  maxLinks: number,
): Map<string, string> {
  const members = [...new Set(online)].sort()
  const parents = new Map<string, string>()
  if (!members.includes(origin)) return parents
  const links = new Map<string, Set<string>>(members.map((m) => [m, new Set<string>()]))
  for (const m of members) {
    for (const n of ringNeighbors(m, members, maxLinks)) {
      links.get(m)?.add(n)
      links.get(n)?.add(m)
    }
  }
  const seen = new Set([origin])
  const queue = [origin]
  for (let at = 0; at < queue.length; at++) {
    const u = queue[at] as string
    for (const v of [...(links.get(u) ?? [])].sort()) {
      if (seen.has(v)) continue
      seen.add(v)
      parents.set(v, u)
      queue.push(v)
    }
  }
  return parents
}
