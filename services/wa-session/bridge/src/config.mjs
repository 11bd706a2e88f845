// Settings from the environment (see README.md).
import { DEFAULT_CONNECTION_CONFIG } from 'baileys'
import { parseWaVersion } from './wa-version.mjs'

const optionalInt = (env, name) => {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return value
}

const optionalKey = (env, name) => {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const key = Buffer.from(raw, 'base64')
  if (key.length !== 32) throw new Error(`${name} must be a base64 curve25519 public key (32 bytes)`)
  return key
}

const optionalUrl = (env, name) => {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  let url
  try {
    url = new URL(raw)
  } catch {
    throw new Error(`${name} must be an http(s) URL, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got "${raw}"`)
  return url.href
}

const waVersion = (env, name) => {
  const raw = env[name]
  if (raw === undefined || raw === '') return [...DEFAULT_CONNECTION_CONFIG.version]
  const version = parseWaVersion(raw)
  if (!version) throw new Error(`${name} must be a version like 2.3000.1043857760, got "${raw}"`)
  return version
}

/** A switch that is on unless set to 0 (or false). */
const onUnlessOff = (env, name) => {
  const raw = env[name]
  if (raw === undefined || raw === '' || raw === '1' || raw === 'true') return true
  if (raw === '0' || raw === 'false') return false
  throw new Error(`${name} must be 1 or 0, got "${raw}"`)
}

export const readConfig = (env = process.env) => ({
  wsUrl: env.WA_BRIDGE_WS_URL || undefined,
  trustRootKey: optionalKey(env, 'WA_BRIDGE_TRUST_ROOT_KEY'),
  qrTimeoutMs: optionalInt(env, 'WA_BRIDGE_QR_TIMEOUT_MS'),
  requestTimeoutMs: optionalInt(env, 'WA_BRIDGE_REQUEST_TIMEOUT_MS') ?? 30_000,
  logLevel: env.WA_BRIDGE_LOG_LEVEL || 'warn',
  waVersion: waVersion(env, 'WA_BRIDGE_WA_VERSION'),
  versionUrl: optionalUrl(env, 'WA_BRIDGE_VERSION_URL'),
  // What today's servers send that rc14 mishandles; each can be switched off to show what it fixes.
  handle: {
    regRefresh: onUnlessOff(env, 'WA_BRIDGE_HANDLE_REG_REFRESH'),
    ackStatus: onUnlessOff(env, 'WA_BRIDGE_ACK_STATUS'),
    ackBeforeLogin: onUnlessOff(env, 'WA_BRIDGE_ACK_BEFORE_LOGIN'),
    passkey: onUnlessOff(env, 'WA_BRIDGE_HANDLE_PASSKEY'),
    linkCodeGuard: onUnlessOff(env, 'WA_BRIDGE_GUARD_LINK_CODE')
  }
})
