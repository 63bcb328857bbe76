import type { FastifyInstance } from 'fastify'
import { createHmac } from 'node:crypto'
import { ErrorBody, IceConfig, type IceServer } from '../../shared/index.ts'
import type { Context } from '../context.ts'

/**
 * Short-lived TURN credentials in coturn's REST scheme (`use-auth-secret`): the username is
 * "<expiry unix seconds>:<account>", the password HMAC-SHA1(secret, username) in base64.
 */
export function turnCredential(
  secret: string,
  account: string,
  expiresAtS: number,
): { username: string; credential: string } {
  const username = `${expiresAtS}:${account}`
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') }
}

export function iceRoutes(app: FastifyInstance, ctx: Context): void {
  const { config } = ctx
  app.get(
    '/api/ice',
    { schema: { response: { 200: IceConfig, 401: ErrorBody } } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      // Credentials are per account and short-lived: no cache along the way may keep or share them.
      void reply.header('cache-control', 'no-store')
      const iceServers: IceServer[] = []
      if (config.stunUrls.length > 0) iceServers.push({ urls: [...config.stunUrls] })
      let expiresAt: number | undefined
      if (config.turnUrls.length > 0 && config.turnSecret !== undefined) {
        const expiresAtS = Math.floor(Date.now() / 1000) + config.turnTtlS
        expiresAt = expiresAtS * 1000
        iceServers.push({
          urls: [...config.turnUrls],
          ...turnCredential(config.turnSecret, me.username, expiresAtS),
        })
      }
      return {
        iceServers,
        iceTransportPolicy: config.relayOnly ? ('relay' as const) : ('all' as const),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      }
    },
  )
}
