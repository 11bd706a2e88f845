// Human-readable logs go to stderr only: stdout carries the single "ready" JSON line.
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 }
const threshold = LEVELS[process.env.WA_EMULATOR_LOG_LEVEL || 'info'] ?? LEVELS.info

const write = (level, msg) => {
  if (LEVELS[level] < threshold) return
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}\n`)
}

export const log = {
  debug: msg => write('debug', msg),
  info: msg => write('info', msg),
  warn: msg => write('warn', msg),
  error: msg => write('error', msg)
}
