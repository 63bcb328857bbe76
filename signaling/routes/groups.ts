import type { FastifyInstance } from 'fastify'
import {
  canonicalUsername,
  CreateGroupRequest,
  ErrorBody,
  Group,
  GroupListQuery,
  GroupListResponse,
  GroupParams,
  RenameGroupRequest,
  UpdateMembersRequest,
  limits,
} from '../../shared/index.ts'
import type { Caller, Context } from '../context.ts'
import { HttpError } from '../http-error.ts'
import { newId } from '../secrets.ts'
import type { GroupMemberRecord, GroupRecord } from '../storage/storage.ts'

const errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
}

/** `<createdAt>.<id>` of the last group of the page before (the schema checked its shape). */
function parseCursor(cursor: string | undefined): { createdAt: number; id: string } | undefined {
  if (cursor === undefined) return undefined
  const dot = cursor.indexOf('.')
  return { createdAt: Number(cursor.slice(0, dot)), id: cursor.slice(dot + 1) }
}

/**
 * Groups as metadata only: who is in them (so the relay can authorize signals between members)
 * and the admin-signed member list, stored as an opaque blob that clients verify themselves.
 */
export function groupRoutes(app: FastifyInstance, ctx: Context): void {
  const { storage } = ctx

  async function groupOf(me: Caller, id: string): Promise<GroupRecord> {
    const group = await storage.getGroup(id)
    // Non-members get the same answer as for a group that does not exist.
    if (group === undefined || !group.members.some((m) => m.username === me.username))
      throw new HttpError('not-found', 'no such group')
    return group
  }

  function requireAdmin(me: Caller, group: GroupRecord): void {
    if (!group.members.some((m) => m.username === me.username && m.role === 'admin'))
      throw new HttpError('not-admin', 'only admins can do that')
  }

  /** Nobody ends up in more than `maxGroupsPerUser` groups, which bounds their group list. */
  async function requireRoom(me: Caller, usernames: readonly string[]): Promise<void> {
    const max = ctx.config.maxGroupsPerUser
    const counts = await storage.groupCounts(usernames)
    for (const [u, n] of counts)
      if (n >= max)
        throw new HttpError(
          'too-many-groups',
          u === me.username ? `you are in ${max} groups, the most allowed` : `${u} is in too many groups`,
        )
  }

  /**
   * One admin per group, its creator (docs/SECURITY.md): the client signs member lists with that
   * one key and has no way yet to hand the role on, so a second admin is refused.
   */
  function requireSoleAdmin(me: Caller, members: readonly GroupMemberRecord[]): void {
    const admins = members.filter((m) => m.role === 'admin')
    if (admins.length !== 1 || admins[0]?.username !== me.username)
      throw new HttpError('bad-request', 'a group has one admin, who stays: list yourself as its only admin')
  }

  /** Only friends of the person adding them can be added. */
  async function requireAddable(me: Caller, usernames: readonly string[]): Promise<void> {
    for (const u of usernames) {
      if (!(await storage.areFriends(me.username, u)))
        throw new HttpError('not-friends', `${u} is not your friend`)
    }
  }

  /** Members get the new state; those no longer in it are told they were removed. */
  async function announce(
    id: string,
    before: readonly GroupMemberRecord[],
    group: GroupRecord | undefined,
    by: string,
  ): Promise<void> {
    ctx.relayPolicy.forgetAll()
    const now = new Set(group?.members.map((m) => m.username) ?? [])
    const removed = before.map((m) => m.username).filter((u) => !now.has(u))
    const had = new Set(before.map((m) => m.username))
    await introduce(
      [...now].filter((u) => !had.has(u)),
      [...now],
    )
    if (group !== undefined) await ctx.push(now, { type: 'group-updated', group })
    await ctx.push(removed, { type: 'group-removed', groupId: id, by })
  }

  /**
   * Members now see each other's presence (they are contacts through the group), but presence
   * is pushed only on changes: tell new members who of the group is online, and the others that
   * the new ones are, before the group itself, so clients can connect to each other at once.
   */
  async function introduce(added: readonly string[], members: readonly string[]): Promise<void> {
    if (added.length === 0) return
    const online = new Set(await ctx.hub.onlineAmong(members))
    for (const a of added) {
      // Blocking hides presence in shared groups too.
      const hidden = new Set(await storage.blockPartners(a))
      const sees = (m: string): boolean => m !== a && !hidden.has(m)
      for (const m of members)
        if (sees(m) && online.has(m)) await ctx.push([a], { type: 'presence', username: m, online: true })
      if (online.has(a))
        await ctx.push(
          members.filter((m) => sees(m) && !added.includes(m)),
          { type: 'presence', username: a, online: true },
        )
    }
  }

  app.get<{ Querystring: GroupListQuery }>(
    '/api/groups',
    { schema: { querystring: GroupListQuery, response: { 200: GroupListResponse, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      const after = parseCursor(request.query.after)
      // One more than a page tells whether another page follows.
      const rows = await storage.listGroupsPage(me.username, after, limits.groupsPageSize + 1)
      const groups = rows.slice(0, limits.groupsPageSize)
      const last = groups.at(-1)
      return rows.length > groups.length && last !== undefined
        ? { groups, next: `${last.createdAt}.${last.id}` }
        : { groups }
    },
  )

  app.get<{ Params: GroupParams }>(
    '/api/groups/:id',
    { schema: { params: GroupParams, response: { 200: Group, ...errors } } },
    async (request) => groupOf(await ctx.caller(request), request.params.id),
  )

  app.post<{ Body: CreateGroupRequest }>(
    '/api/groups',
    { schema: { body: CreateGroupRequest, response: { 201: Group, ...errors } } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const others = [...new Set(request.body.members.map(canonicalUsername))].filter(
        (u) => u !== me.username,
      )
      await requireAddable(me, others)
      await requireRoom(me, [me.username, ...others])
      const now = Date.now()
      const group: GroupRecord = {
        id: newId(),
        name: request.body.name,
        memberList: request.body.memberList,
        version: 1,
        createdAt: now,
        updatedAt: now,
        members: [
          { username: me.username, role: 'admin' },
          ...others.map((username) => ({ username, role: 'member' as const })),
        ],
      }
      await storage.createGroup(group)
      await announce(group.id, [], group, me.username)
      return reply.code(201).send(group)
    },
  )

  app.put<{ Params: GroupParams; Body: UpdateMembersRequest }>(
    '/api/groups/:id/members',
    { schema: { params: GroupParams, body: UpdateMembersRequest, response: { 200: Group, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      const group = await groupOf(me, request.params.id)
      requireAdmin(me, group)
      const members = new Map<string, GroupMemberRecord>()
      for (const m of request.body.members)
        members.set(canonicalUsername(m.username), { ...m, username: canonicalUsername(m.username) })
      if (members.size > limits.groupMaxMembers)
        throw new HttpError('group-full', `at most ${limits.groupMaxMembers} members`)
      requireSoleAdmin(me, [...members.values()])
      const before = new Set(group.members.map((m) => m.username))
      const added = [...members.keys()].filter((u) => !before.has(u))
      await requireAddable(me, added)
      await requireRoom(me, added)
      await storage.updateGroup(group.id, group.version, {
        name: group.name,
        memberList: request.body.memberList,
        members: [...members.values()],
        updatedAt: Date.now(),
      })
      const after = await storage.getGroup(group.id)
      await announce(group.id, group.members, after, me.username)
      if (after === undefined) throw new HttpError('not-found', 'no such group')
      return after
    },
  )

  app.patch<{ Params: GroupParams; Body: RenameGroupRequest }>(
    '/api/groups/:id',
    { schema: { params: GroupParams, body: RenameGroupRequest, response: { 200: Group, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      const group = await groupOf(me, request.params.id)
      requireAdmin(me, group)
      await storage.updateGroup(group.id, group.version, {
        name: request.body.name,
        memberList: request.body.memberList ?? group.memberList,
        members: group.members,
        updatedAt: Date.now(),
      })
      const after = await storage.getGroup(group.id)
      await announce(group.id, group.members, after, me.username)
      if (after === undefined) throw new HttpError('not-found', 'no such group')
      return after
    },
  )

  app.post<{ Params: GroupParams }>(
    '/api/groups/:id/leave',
    { schema: { params: GroupParams, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const group = await groupOf(me, request.params.id)
      const rest = group.members.filter((m) => m.username !== me.username)
      // The member list is signed by its admin: a group left without one could never change again.
      if (rest.length > 0 && !rest.some((m) => m.role === 'admin'))
        throw new HttpError('conflict', 'the admin leaves last: remove the other members first')
      if (rest.length === 0) {
        await storage.deleteGroup(group.id)
        await announce(group.id, group.members, undefined, me.username)
      } else {
        await storage.updateGroup(group.id, group.version, {
          name: group.name,
          memberList: group.memberList,
          members: rest,
          updatedAt: Date.now(),
        })
        await announce(group.id, group.members, await storage.getGroup(group.id), me.username)
      }
      return reply.code(204).send()
    },
  )
}
