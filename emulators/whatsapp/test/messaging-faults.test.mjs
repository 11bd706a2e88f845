// What goes wrong with 1:1 texts, ordered through the control API, as the real Baileys sees it.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { proto } from 'baileys'
import { SERVER_2025, startEmulator } from './helpers.mjs'
import {
  messagesOf,
  nextEvent,
  openSalon,
  reportOf,
  salonAndContact,
  sendText,
  Status,
  statusOf,
  textIn,
  until,
  upserted
} from './messaging-helpers.mjs'

let emulator
let salon
let client

const newContact = async () => (await emulator.call('POST', '/contacts', {})).body
const outboxEntry = (id, what) =>
  until(async () => (await emulator.call('GET', `/outbox?phone=${salon.login.phone}`)).body.find(m => m.id === id), what)
const received = (phone, id, what) =>
  until(async () => (await messagesOf(emulator, phone)).received.find(m => m.id === id), what)
const reopen = async overrides => {
  client.sock.end(undefined)
  await client.closed()
  client = await openSalon(emulator, salon, overrides)
}

before(async () => {
  // Plain rc14 clients: the 2025 server, which they can link to.
  emulator = await startEmulator(SERVER_2025)
  salon = await salonAndContact(emulator)
  client = await openSalon(emulator, salon)
})
after(() => emulator?.stop())

test('a number without WhatsApp: onWhatsApp says so, a send resolves but reaches nobody', async () => {
  const unknown = '79995550000'
  assert.deepEqual(await client.sock.onWhatsApp(unknown, salon.contact.phone), [{ jid: salon.contact.jid, exists: true }])

  const { key } = await sendText(client, salon.store, `${unknown}@s.whatsapp.net`, 'Есть кто?')
  const entry = await outboxEntry(key.id, 'the server to take the message')
  assert.deepEqual(entry.devices, [`${salon.login.phone}@s.whatsapp.net`], 'only the salon’s own phone gets it')
  assert.equal(entry.error, undefined, 'the server acks it all the same')
  await until(() => statusOf(client, key.id) === Status.PENDING, 'the upsert')
})

test('a number that loses its account: later checks say not on WhatsApp, sends reach nobody', async () => {
  const contact = await newContact()
  const first = await sendText(client, salon.store, contact.jid, 'Пока вы здесь')
  await received(contact.phone, first.key.id, 'the first message')

  assert.equal((await emulator.call('POST', '/contacts/deregister', { phone: contact.phone })).status, 200)
  assert.deepEqual(await client.sock.onWhatsApp(contact.phone), [])
  const { key } = await sendText(client, salon.store, contact.jid, 'А теперь?')
  const entry = await outboxEntry(key.id, 'the server to take the message')
  assert.ok(!entry.devices.includes(contact.jid), 'Baileys still had the device cached; the server drops it')
  await until(() => statusOf(client, key.id) === Status.PENDING, 'the upsert')
})

test('reach-out time-lock: a new contact gets a 463 nack, an existing chat goes on, the lock is reported', async t => {
  const before = await sendText(client, salon.store, salon.contact.jid, 'Чат до ограничения')
  await received(salon.contact.phone, before.key.id, 'a message before the lock')

  const endsAt = Math.floor(Date.now() / 1000) + 3600
  t.after(() => emulator.call('POST', '/reachout-timelock', { phone: salon.login.phone, active: false }))
  const set = await emulator.call('POST', '/reachout-timelock', { phone: salon.login.phone, active: true, endsAt })
  assert.equal(set.status, 200, JSON.stringify(set.body))
  const pushed = await client.next('connection.update', u => !!u.reachoutTimeLock, 5_000, 'the time-lock notification')
  assert.equal(pushed.reachoutTimeLock.isActive, true)

  const fetched = await client.sock.fetchAccountReachoutTimelock()
  assert.deepEqual(fetched, { isActive: true, timeEnforcementEnds: new Date(endsAt * 1000), enforcementType: 'DEFAULT' })

  const stranger = await newContact()
  const { key } = await sendText(client, salon.store, stranger.jid, 'Первое сообщение')
  // the nack comes at once, mostly before Baileys' own upsert, and is merged into it
  const report = await until(() => statusOf(client, key.id) === Status.ERROR && reportOf(client, key.id), 'the 463')
  assert.deepEqual(report.stubParameters, ['463', 'Your account has been restricted'])
  assert.equal(client.acks.find(a => a.id === key.id).error, '463')
  assert.equal((await messagesOf(emulator, stranger.phone)).received.length, 0)

  const existing = await sendText(client, salon.store, salon.contact.jid, 'Старому клиенту можно')
  await received(salon.contact.phone, existing.key.id, 'a message in an existing chat')

  await emulator.call('POST', '/reachout-timelock', { phone: salon.login.phone, active: false })
  await client.next('connection.update', u => u.reachoutTimeLock?.isActive === false, 5_000, 'the lock lifted')
  const after = await sendText(client, salon.store, stranger.jid, 'Теперь можно')
  await received(stranger.phone, after.key.id, 'the message once the lock is lifted')
})

test('new-chat message cap: reported to the login, and answered when Baileys asks', async () => {
  const capped = nextEvent(client.sock, 'message-capping.update')
  const cap = { phone: salon.login.phone, totalQuota: 20, usedQuota: 20, status: 'CAPPED' }
  const set = await emulator.call('POST', '/message-capping', cap)
  assert.equal(set.status, 200, JSON.stringify(set.body))
  const update = await capped
  assert.deepEqual(
    { totalQuota: update.total_quota, usedQuota: update.used_quota, status: update.capping_status },
    { totalQuota: 20, usedQuota: 20, status: 'CAPPED' }
  )
  const fetched = await client.sock.fetchNewChatMessageCap()
  assert.equal(fetched.capping_status, 'CAPPED')
})

test('never-deliver: the server acks, no receipt comes; when the phone is back it takes the message', async () => {
  const contact = await newContact()
  await emulator.call('POST', '/contacts/behaviour', { phone: contact.phone, neverDeliver: true })
  const { key } = await sendText(client, salon.store, contact.jid, 'Телефон выключен')
  await until(async () => (await messagesOf(emulator, contact.phone)).held.some(m => m.id === key.id), 'the message held')
  assert.ok(client.acks.some(a => a.id === key.id && !a.error), 'the server acked it')
  await until(() => statusOf(client, key.id) === Status.PENDING, 'the upsert')

  await emulator.call('POST', '/contacts/behaviour', { phone: contact.phone, neverDeliver: false })
  assert.equal((await received(contact.phone, key.id, 'the held message')).text, 'Телефон выключен')
  await until(() => statusOf(client, key.id) === Status.DELIVERY_ACK, 'the late delivery receipt')
})

test('Baileys lost its session with the contact: it upserts a CIPHERTEXT stub, asks again, gets the message', async () => {
  await salon.login.auth.keys.set({ session: { [`${salon.contact.lid.split('@')[0]}_1.0`]: null } })
  const sent = await emulator.call('POST', '/contacts/send', { from: salon.contact.phone, to: salon.login.phone, text: 'Повторите?' })
  assert.equal(sent.body.devices[0].type, 'msg', 'the contact writes on the session Baileys no longer has')

  const text = await until(() => upserted(client, m => m.key.id === sent.body.id && textIn(m)), 'the message resent')
  assert.equal(textIn(text.message), 'Повторите?')
  const stub = upserted(client, m => m.key.id === sent.body.id)
  assert.equal(stub.message.messageStubType, proto.WebMessageInfo.StubType.CIPHERTEXT, 'first the undecryptable stub, same id')
  const { receipts } = (await messagesOf(emulator, salon.contact.phone)).sent.find(m => m.id === sent.body.id)
  assert.deepEqual(
    receipts.map(r => r.type),
    ['retry', 'nack', 'inactive'],
    'Baileys asks for a retry, nacks the stanza, then confirms the resent one'
  )
})

test('retry: the contact cannot decrypt and asks again; Baileys resends what getMessage returns', async () => {
  // no recent-message cache: the message must come from getMessage, as after a restart
  const asked = []
  const store = salon.store
  await reopen({ enableRecentMessageCache: false, getMessage: async key => (asked.push(key), store.get(key.id)) })
  await emulator.call('POST', '/contacts/behaviour', { phone: salon.contact.phone, retryOnce: true })

  const { key } = await sendText(client, store, salon.contact.jid, 'Со второй попытки')
  const message = await received(salon.contact.phone, key.id, 'the resent message')
  assert.equal(message.text, 'Со второй попытки')
  assert.equal(message.type, 'pkmsg', 'resent on a new session')
  const [retry] = (await messagesOf(emulator, salon.contact.phone)).retries.filter(r => r.id === key.id)
  assert.deepEqual({ count: retry.count, resent: retry.resent }, { count: 1, resent: true })
  assert.deepEqual(
    asked.map(({ remoteJid, id, fromMe }) => ({ remoteJid, id, fromMe })),
    [{ remoteJid: salon.contact.jid, id: key.id, fromMe: true }]
  )
  await until(() => statusOf(client, key.id) === Status.DELIVERY_ACK, 'the delivery receipt')
})

test('retry without getMessage: Baileys cannot resend, the message stays undelivered', async () => {
  await reopen({ enableRecentMessageCache: false, getMessage: async () => undefined })
  await emulator.call('POST', '/contacts/behaviour', { phone: salon.contact.phone, retryOnce: true })

  const { key } = await sendText(client, salon.store, salon.contact.jid, 'Не дойдёт')
  // Baileys acks the retry receipt after it resent the message or gave up
  const retry = await until(
    async () => (await messagesOf(emulator, salon.contact.phone)).retries.find(r => r.id === key.id && r.acked),
    'Baileys to settle the retry'
  )
  assert.equal(retry.resent, false)
  assert.equal((await messagesOf(emulator, salon.contact.phone)).received.some(m => m.id === key.id), false)
  await until(() => statusOf(client, key.id) === Status.PENDING, 'the upsert')
  client.sock.end(undefined)
})
