// Logs stay on stderr and never carry key material, whoever writes them.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'

const LOGGER = new URL('../src/logger.mjs', import.meta.url).href

test('console output goes to the stderr log without objects; secret fields are redacted', () => {
  const script = `
    import { captureConsole, createLogger } from '${LOGGER}'
    const { logger, flush } = createLogger('debug')
    captureConsole(logger)
    console.info('Closing session:', { rootKey: 'SECRET-1' })
    console.log('plain', 42)
    console.error('Session error:', new Error('SECRET-2'))
    logger.warn({ creds: { noiseKey: 'SECRET-3' }, qr: 'SECRET-4', update: { pairingCode: 'SECRET-5' } }, 'event')
    flush()
  `
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 })
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout, '', 'nothing on stdout')
  const lines = run.stderr.trim().split('\n').map(line => JSON.parse(line))
  assert.deepEqual(
    lines.map(line => line.msg),
    ['Closing session:', 'plain', 'Session error:', 'event']
  )
  assert.doesNotMatch(run.stderr, /SECRET/)
})
