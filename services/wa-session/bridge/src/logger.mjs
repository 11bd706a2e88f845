// Logs are JSON lines on stderr: stdout is reserved for the protocol.
import pino from 'pino'

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

// Belt and braces: Baileys never logs these at warn, but a debug run must not leak them either.
const REDACT = [
  'creds',
  'keys',
  'qr',
  'pairingCode',
  '*.creds',
  '*.keys',
  '*.qr',
  '*.pairingCode',
  '*.noiseKey',
  '*.signedIdentityKey',
  '*.signedPreKey',
  '*.advSecretKey'
]

export const createLogger = level => {
  const destination = pino.destination({ fd: 2, sync: false })
  const logger = pino(
    {
      level: LEVELS.has(level) ? level : 'warn',
      base: { pid: process.pid, name: 'wa-bridge' },
      redact: { paths: REDACT, censor: '[redacted]' },
      // Baileys logs errors under both names; without this `error` shows up as {}.
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err }
    },
    destination
  )
  return { logger, flush: () => destination.flushSync() }
}

/**
 * Sends console output to the log instead of stdout, which belongs to the protocol. libsignal
 * prints whole session records (key material) with console.info, so only string arguments are kept.
 */
export const captureConsole = logger => {
  const to = level => (...args) => {
    const text = args.filter(arg => typeof arg === 'string').join(' ')
    if (text) logger[level]({ source: 'console' }, text)
  }
  console.log = console.info = console.debug = console.trace = to('debug')
  console.warn = to('warn')
  console.error = to('error')
}
