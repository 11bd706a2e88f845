// Lease deadlines: a session whose owner stops renewing it (e.g. a stalled wa-session) is ended by
// its deadline, without logging out, so that WhatsApp never sees two sockets for one login when
// another instance takes the session over.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, loginByQr, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

const LEASE_MS = 400
let emulator
let bridge

before(async () => {
  emulator = await startEmulator()
  bridge = await startBridge({ emulator, store: memoryStore() })
})
after(async () => {
  await bridge?.stop()
  await emulator?.stop()
})

const deviceOf = async phone => (await emulator.state()).devices.find(d => d.phone === phone)

test('a connected session not renewed is closed lease_expired by its deadline, still logged in', async () => {
  const phone = await loginByQr(bridge, emulator, 'stalled')
  const leases = [{ session: 'stalled', ms: LEASE_MS }, { session: 'unknown', ms: LEASE_MS }]
  const { value } = assertOk(await bridge.command('lease', { leases }))
  assert.deepEqual(value, { applied: 1 }, 'unknown sessions are ignored')
  const leased = Date.now()
  const closed = await bridge.event('closed', 'stalled', LEASE_MS + 5_000)
  const after = Date.now() - leased
  assert.deepEqual(
    { code: closed.code, reason: closed.reason, message: closed.message },
    { code: null, reason: 'lease_expired', message: `lease not renewed within ${LEASE_MS} ms` }
  )
  assert.ok(after >= LEASE_MS - 20 && after < LEASE_MS + 2_000, `closed ${after} ms after the lease`)
  await waitFor(async () => (await deviceOf(phone)).liveSockets === 0, 5_000, 'the socket to be gone at the emulator')
  assert.equal((await deviceOf(phone)).loggedIn, true, 'not a logout')
})

test('a renewed session stays open past many lease periods; the deadline applies once renewals stop', async () => {
  const phone = await loginByQr(bridge, emulator, 'renewed')
  // No leaseMs at `open`: no deadline until the first lease.
  const renew = () => bridge.command('lease', { leases: [{ session: 'renewed', ms: LEASE_MS }] })
  assert.deepEqual(assertOk(await renew()).value, { applied: 1 })
  const renewals = setInterval(renew, LEASE_MS / 4)
  try {
    await assert.rejects(bridge.event('closed', 'renewed', 4 * LEASE_MS), /timed out/, 'still open')
  } finally {
    clearInterval(renewals)
  }
  assert.equal((await deviceOf(phone)).liveSockets, 1)
  assert.equal((await bridge.event('closed', 'renewed', LEASE_MS + 5_000)).reason, 'lease_expired')
})

test('a session id that starts with digits is renewed like any other', async () => {
  // Such ids are UUIDs 10 times in 16: the protocol's Buffer reviver must leave them alone.
  const session = '1f9f4ce3-27cb-4fbf-991b-17057e3b3f49'
  assertOk(await bridge.command('open', { session, pairingPhone: null, leaseMs: LEASE_MS }))
  await bridge.event('qr', session)
  const renew = () => bridge.command('lease', { leases: [{ session, ms: LEASE_MS }] })
  assert.deepEqual(assertOk(await renew()).value, { applied: 1 })
  const renewals = setInterval(renew, LEASE_MS / 4)
  try {
    await assert.rejects(bridge.event('closed', session, 3 * LEASE_MS), /timed out/, 'still open')
  } finally {
    clearInterval(renewals)
  }
  assertOk(await bridge.command('close', { session }))
})

test('open with leaseMs: a login still waiting for its scan is ended too; bad leases are refused', async () => {
  assertOk(await bridge.command('open', { session: 'waiting', pairingPhone: null, leaseMs: LEASE_MS }))
  await bridge.event('qr', 'waiting')
  const closed = await bridge.event('closed', 'waiting', LEASE_MS + 5_000)
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: null, reason: 'lease_expired' })

  const bad = [
    { leases: null },
    { leases: { s: LEASE_MS } },
    { leases: [{ session: 's', ms: 0 }] },
    { leases: [{ session: 's', ms: 1.5 }] },
    { leases: [{ session: 's', ms: '100' }] },
    { leases: [{ ms: 100 }] }
  ]
  for (const fields of bad) {
    assert.equal((await bridge.command('lease', fields)).ok, false, JSON.stringify(fields))
  }
  assert.equal((await bridge.command('open', { session: 's', pairingPhone: null, leaseMs: -1 })).ok, false)
  assert.deepEqual(assertOk(await bridge.command('lease', { leases: [] })).value, { applied: 0 })
  assert.equal(assertOk(await bridge.command('ping')).value.sessions, 0)
})
