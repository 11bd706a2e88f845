// What the real servers do in 2026 that the emulator reproduces, each behaviour a switch: set at
// start by a command-line flag, read and changed at run time through GET / POST /behaviours.
// The defaults are today's server; turning them off gives the login as it was in 2025.

// Baileys 7.0.0-rc14's built-in WhatsApp Web version: accepted by default, and served as current.
const RC14_VERSION = '2.3000.1043857760'

export const DEFAULT_BEHAVIOURS = Object.freeze({
  companionRegRefresh: true, // first QR scan of a socket: companion_reg_refresh, that scan fails
  statusStanzas: true, // top-level <status> stanzas to logged-in devices, acks enforced
  statusIntervalMs: 60_000, // one status per logged-in socket this often
  statusAckTimeoutMs: 10_000, // an unacked status ends the stream after this long
  minVersion: RC14_VERSION, // older clients get <failure reason="405">; null accepts any
  currentVersion: RC14_VERSION, // what GET /sw.js says WhatsApp Web's version is
  passkeyPrompt: false, // a scan gets passkey_prologue_request instead of pair-success
  linkCodeWithoutIdentity: false // a typed pairing code gets a primary_hello without primary_identity_pub
})

const VERSION = /^\d+\.\d+\.\d+$/

// name -> [command-line flag, kind]; a flag's value is on|off, an integer, or a version (or "off").
const SETTINGS = {
  companionRegRefresh: ['companion-reg-refresh', 'switch'],
  statusStanzas: ['status-stanzas', 'switch'],
  statusIntervalMs: ['status-interval-ms', 'ms'],
  statusAckTimeoutMs: ['status-ack-timeout-ms', 'ms'],
  minVersion: ['min-version', 'optional version'],
  currentVersion: ['current-version', 'version'],
  passkeyPrompt: ['passkey-prompt', 'switch'],
  linkCodeWithoutIdentity: ['link-code-without-identity', 'switch']
}

export class BehaviourError extends Error {}

const check = (name, kind, value) => {
  const ok =
    kind === 'switch'
      ? typeof value === 'boolean'
      : kind === 'ms'
        ? Number.isInteger(value) && value > 0
        : (kind === 'optional version' && value === null) || (typeof value === 'string' && VERSION.test(value))
  if (!ok) throw new BehaviourError(`${name} must be ${describe(kind)}, got ${JSON.stringify(value)}`)
  return value
}

const describe = kind =>
  ({
    switch: 'true or false (on or off as a flag)',
    ms: 'a positive integer (milliseconds)',
    version: 'a version like "2.3000.1043857760"',
    'optional version': 'a version like "2.3000.1043857760" or null'
  })[kind]

/** Returns `current` with `patch` (names and JSON values as in GET /behaviours) applied; throws on anything unknown or malformed. */
export const applyBehaviours = (current, patch) => {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new BehaviourError('expected a JSON object')
  const next = { ...current }
  for (const [name, value] of Object.entries(patch)) {
    if (!SETTINGS[name]) throw new BehaviourError(`unknown behaviour "${name}"`)
    next[name] = check(name, SETTINGS[name][1], value)
  }
  return next
}

/** parseArgs options for every behaviour flag. */
export const behaviourFlags = Object.fromEntries(Object.values(SETTINGS).map(([flag]) => [flag, { type: 'string' }]))

/** The behaviours given by command-line flags (parseArgs values), on top of the defaults. */
export const behavioursFromArgs = args => {
  let behaviours = DEFAULT_BEHAVIOURS
  for (const [name, [flag, kind]] of Object.entries(SETTINGS)) {
    const raw = args[flag]
    if (raw === undefined) continue
    let value = raw
    if (kind === 'switch') value = raw === 'on' ? true : raw === 'off' ? false : raw
    else if (kind === 'ms') value = Number(raw)
    else if (kind === 'optional version' && raw === 'off') value = null
    try {
      behaviours = applyBehaviours(behaviours, { [name]: value })
    } catch (err) {
      throw new BehaviourError(`--${flag}: ${err.message}`)
    }
  }
  return behaviours
}

/** "2.3000.1043857760" -> [2, 3000, 1043857760] */
export const parseVersion = text => text.split('.').map(Number)

/** Compares [primary, secondary, tertiary] tuples: negative when a is older than b. */
export const compareVersions = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
