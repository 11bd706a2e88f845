// First login by QR through the bridge on today's server (the first scan is refused with a
// companion_reg_refresh, the re-rendered QR links), the 515 restart, and a bridge restart that
// resumes the session from the stored state without a new QR.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

const QR_MS = 1500
let emulator

before(async () => {
  emulator = await startEmulator(['--refs', '6', '--qr-timeout-ms', String(QR_MS)])
})
after(() => emulator?.stop())

const advSecretOf = qr => qr.split(',')[3]

test('QR rotation, scan refused with a refresh, re-rendered QR, scan, paired, 515, open again, then a bridge restart resumes without a QR', async () => {
  const store = memoryStore()
  const session = 'conn-qr'
  let bridge = await startBridge({ emulator, store, qrTimeoutMs: QR_MS })

  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const first = await bridge.event('qr', session)
  const second = await bridge.event('qr', session, QR_MS + 3_000)
  assert.deepEqual([first.index, second.index], [1, 2])
  assert.deepEqual([first.ttlMs, second.ttlMs], [QR_MS, QR_MS])
  assert.notEqual(first.qr, second.qr, 'each rotation shows a new QR')
  assert.equal(bridge.messages.filter(m => m.type === 'creds.get').length, 1, 'creds were asked for first')
  assert.equal(store.creds(session), null, 'nothing is stored before the scan')

  const refused = await emulator.call('POST', '/scan', { qr: second.qr })
  assert.equal(refused.status, 409, "today's server: the first scan triggers companion_reg_refresh")
  const again = await bridge.event('qr', session)
  assert.equal(again.refresh, true)
  assert.equal(again.index, 2, 'the same QR shown again, not a new attempt')
  assert.ok(again.ttlMs > 0 && again.ttlMs <= QR_MS, `the rest of its life, ${again.ttlMs} ms`)
  assert.notEqual(advSecretOf(again.qr), advSecretOf(second.qr), 'a new adv secret')
  assert.equal(again.qr.replace(advSecretOf(again.qr), ''), second.qr.replace(advSecretOf(second.qr), ''), 'nothing else changed')
  await waitFor(() => store.creds(session)?.advSecretKey === advSecretOf(again.qr), 5_000, 'the new secret to be saved')
  const ack = (await emulator.state()).notifications.find(n => n.type === 'companion_reg_refresh')
  assert.equal(ack.acks, 1, 'the bridge acked the refresh, once')

  const scan = await emulator.call('POST', '/scan', { qr: again.qr })
  assert.equal(scan.status, 200, JSON.stringify(scan.body))
  const { phone, jid } = scan.body

  assert.equal((await bridge.event('paired', session)).phone, phone)
  const restart = await bridge.event('closed', session)
  assert.deepEqual(
    { code: restart.code, reason: restart.reason, message: restart.message },
    { code: 515, reason: 'restart_required', message: 'Stream Errored (restart required)' }
  )
  // The paired creds were written through state.set and answered before `closed` was sent.
  const storedCreds = store.creds(session)
  assert.equal(storedCreds.me.id, jid)
  assert.equal(storedCreds.noiseKey.private.type, 'Buffer', 'Buffers travel as {type, data: base64}')
  assert.equal(typeof storedCreds.noiseKey.private.data, 'string')

  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const opened = await bridge.event('open', session, 15_000)
  assert.deepEqual({ phone: opened.phone, jid: opened.jid }, { phone, jid })
  assert.ok(store.keyCount(session) > 0, 'signal keys were written through state.set')

  const ping = assertOk(await bridge.command('ping'))
  assert.equal(ping.value.sessions, 1)
  assert.equal(ping.value.openSessions, 1)
  assert.ok(ping.value.rssBytes > 0 && ping.value.heapUsedBytes > 0)

  // Stopping the bridge (stdin closed) ends the socket without logging out.
  assert.equal(await bridge.stop(), 0)
  assert.ok(bridge.stdoutLines.every(line => JSON.parse(line).type), 'stdout carried protocol lines only')
  const device = () => emulator.state().then(s => s.devices.find(d => d.phone === phone))
  assert.equal((await device()).loggedIn, true, 'closing is not a logout')

  bridge = await startBridge({ emulator, store, qrTimeoutMs: QR_MS })
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const resumed = await bridge.event('open', session, 15_000)
  assert.equal(resumed.phone, phone)
  assert.equal(bridge.messages.filter(m => m.type === 'qr').length, 0, 'no new QR after a restart')
  assert.deepEqual((await emulator.state()).maxLiveSocketsPerLogin, { [phone]: 1 }, 'never two sockets on one login')

  // Opening an open session is a no-op; close is idempotent and reports `stopped`.
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  assertOk(await bridge.command('close', { session }))
  const stopped = await bridge.event('closed', session)
  assert.equal(stopped.reason, 'stopped')
  assertOk(await bridge.command('close', { session }))
  assert.equal(await bridge.stop(), 0)
})
