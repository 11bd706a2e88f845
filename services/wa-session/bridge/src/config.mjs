// Settings from the environment (see README.md).

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

export const readConfig = (env = process.env) => ({
  wsUrl: env.WA_BRIDGE_WS_URL || undefined,
  trustRootKey: optionalKey(env, 'WA_BRIDGE_TRUST_ROOT_KEY'),
  qrTimeoutMs: optionalInt(env, 'WA_BRIDGE_QR_TIMEOUT_MS'),
  requestTimeoutMs: optionalInt(env, 'WA_BRIDGE_REQUEST_TIMEOUT_MS') ?? 30_000,
  logLevel: env.WA_BRIDGE_LOG_LEVEL || 'warn'
})
