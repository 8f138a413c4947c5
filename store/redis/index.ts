/** Public surface of the Redis adapters. */
export { openRedisPresence, DEFAULT_REDIS_PRESENCE_OPTIONS, type RedisPresenceOptions, type RedisPresence } from './open.ts';
export { RedisPresenceStore, DEFAULT_REDIS_PRESENCE_SETTINGS, type RedisPresenceSettings, type RedisPresenceStats } from './redis-presence-store.ts';
