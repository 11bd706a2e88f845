// The protocol's edges without a WhatsApp server: bad input never crashes the bridge.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertOk, memoryStore, startBridge } from '../test-support/harness.mjs'

// Nothing here opens a socket, so the URL is never dialled.
const noEmulator = { info: { wsUrl: 'ws://127.0.0.1:9/ws/chat', rootPublicKey: Buffer.alloc(32, 1).toString('base64') } }

test('malformed lines and bad commands get error replies; the bridge keeps serving', async () => {
  const bridge = await startBridge({ emulator: noEmulator, store: memoryStore() })
  const ready = bridge.messages[0]
  assert.equal(ready.version, '7.0.0-rc14')
  assert.equal(ready.pid, bridge.proc.pid)

  bridge.write('this is not json')
  bridge.write('{"id":900,"cmd":"ping"')
  bridge.write('[1,2,3]')
  bridge.write('{"cmd":"ping"}')
  const broken = await bridge.next(m => m.type === 'reply' && m.id === 900, 5_000, 'reply to the broken line')
  assert.deepEqual(broken, { type: 'reply', id: 900, ok: false, error: 'malformed JSON' })

  const unknown = await bridge.command('reboot')
  assert.equal(unknown.ok, false)
  assert.match(unknown.error, /unknown command/)
  const noSession = await bridge.command('open', { pairingPhone: null })
  assert.equal(noSession.ok, false)
  const badPhone = await bridge.command('open', { session: 's', pairingPhone: '+7 999' })
  assert.equal(badPhone.ok, false)

  // Idempotent commands on sessions that were never opened.
  assertOk(await bridge.command('close', { session: 'never' }))
  assertOk(await bridge.command('logout', { session: 'never' }))
  // A result nobody asked for is ignored.
  bridge.write({ type: 'result', rid: 12345, ok: true, value: null })

  const ping = assertOk(await bridge.command('ping'))
  assert.equal(ping.value.sessions, 0)
  assert.equal(await bridge.stop(), 0, 'stdin closed: exit 0')
  assert.ok(bridge.messages.every(m => typeof m.type === 'string'), 'stdout carried protocol lines only')
})

test('a failed creds.get fails the open and leaves no session', async () => {
  const store = memoryStore()
  store.refuse('taken')
  const bridge = await startBridge({ emulator: noEmulator, store })
  const reply = await bridge.command('open', { session: 'taken', pairingPhone: null })
  assert.deepEqual({ ok: reply.ok, error: reply.error }, { ok: false, error: 'fenced' })
  assert.equal(assertOk(await bridge.command('ping')).value.sessions, 0)
  assert.equal(await bridge.stop(), 0)
})
