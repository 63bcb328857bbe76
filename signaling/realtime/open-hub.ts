import type { Config } from '../config.ts'
import { LocalHub, type Hub } from './hub.ts'
import { RedisHub } from './redis-hub.ts'

/** The configured hub: Redis when REDIS_URL is set (several nodes), otherwise in-process. */
export async function openHub(
  config: Pick<Config, 'redisUrl' | 'redisPrefix'>,
  log?: { warn(obj: unknown, msg: string): void; info(obj: unknown, msg: string): void },
): Promise<Hub> {
  if (config.redisUrl === undefined) return new LocalHub()
  return RedisHub.open({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    ...(log === undefined ? {} : { log }),
  })
}
