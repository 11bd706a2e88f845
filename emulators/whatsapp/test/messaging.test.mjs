// 1:1 texts between a salon's login (the real Baileys) and an emulated contact, both ways.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { getBinaryNodeChild, S_WHATSAPP_NET } from 'baileys'
import { SERVER_2025, startEmulator } from './helpers.mjs'
import {
  messagesOf,
  openSalon,
  salonAndContact,
  sendText,
  Status,
  statusOf,
  textIn,
  until,
  upserted
} from './messaging-helpers.mjs'

let emulator
let salon // { login: {auth, phone, jid, lid}, contact, store }
let client

const received = (phone, id, what) =>
  until(async () => (await messagesOf(emulator, phone)).received.find(m => m.id === id), what)

before(async () => {
  // Plain rc14 clients: the 2025 server, which they can link to.
  emulator = await startEmulator([...SERVER_2025, '--contacts', '2'])
  salon = await salonAndContact(emulator, { phone: '79161234567', name: 'Анна' })
  client = await openSalon(emulator, salon)
})
after(() => emulator?.stop())

test('contacts: two made by --contacts, one through the API; a number that has an account is refused', async () => {
  const contacts = (await emulator.call('GET', '/contacts')).body
  assert.deepEqual(
    contacts.map(({ phone, name, registered }) => ({ phone, name, registered })),
    [
      { phone: '79991000001', name: 'Contact 0001', registered: true },
      { phone: '79991000002', name: 'Contact 0002', registered: true },
      { phone: '79161234567', name: 'Анна', registered: true }
    ]
  )
  assert.match(salon.contact.lid, /^\d{14}@lid$/)
  assert.equal((await emulator.call('POST', '/contacts', { phone: '79161234567' })).status, 409)
  assert.equal((await emulator.call('POST', '/contacts', { phone: salon.login.phone })).status, 409, 'a salon’s number')
})

test('pre-keys: the server keeps the ones the login uploaded, across reconnects; a key handed out is off the list', async () => {
  const preKeysOnServer = async () => {
    const result = await client.sock.query({
      tag: 'iq',
      attrs: { xmlns: 'encrypt', type: 'get', to: S_WHATSAPP_NET },
      content: [{ tag: 'count', attrs: {} }]
    })
    return Number(getBinaryNodeChild(result, 'count').attrs.value)
  }
  assert.equal(await preKeysOnServer(), 812, 'the first login uploads 812')

  const stranger = (await emulator.call('POST', '/contacts', {})).body
  const sent = await emulator.call('POST', '/contacts/send', { from: stranger.phone, to: salon.login.phone, text: 'Здравствуйте' })
  assert.equal(sent.body.devices[0].type, 'pkmsg')
  await until(() => upserted(client, m => m.key.id === sent.body.id), 'the message')
  assert.equal(await preKeysOnServer(), 811, 'the contact’s session took one')

  const { nextPreKeyId } = salon.login.auth.creds
  client.sock.end(undefined)
  await client.closed()
  client = await openSalon(emulator, salon)
  assert.equal(await preKeysOnServer(), 811)
  assert.equal(salon.login.auth.creds.nextPreKeyId, nextPreKeyId, 'no new upload after the reconnect')
})

test('a text to a contact: the contact decrypts exactly it, the server acks, the contact confirms delivery', async () => {
  const text = 'Здравствуйте! Запись на 15:00 подтверждена.'
  const sent = await sendText(client, salon.store, salon.contact.jid, text)
  const { id } = sent.key

  const message = await received(salon.contact.phone, id, 'the contact to decrypt it')
  assert.equal(message.text, text)
  assert.equal(message.kind, 'extendedTextMessage', 'Baileys 7 sends a text as extendedTextMessage')
  assert.equal(message.type, 'pkmsg', 'the first message starts the Signal session')
  assert.equal(message.from, salon.login.jid)

  const ack = await until(() => client.acks.find(a => a.id === id), 'the server ack')
  assert.equal(ack.from, salon.contact.jid)
  assert.equal(ack.error, undefined)
  await until(() => statusOf(client, id) === Status.DELIVERY_ACK, 'the delivery receipt')
})

test('the salon’s own phone gets a copy of what its login sent (deviceSentMessage)', async () => {
  const { key } = await sendText(client, salon.store, salon.contact.jid, 'Копия для телефона')
  const copy = await received(salon.login.phone, key.id, 'the copy on the primary phone')
  assert.equal(copy.text, 'Копия для телефона')
  assert.equal(copy.destination, salon.contact.jid)
  assert.equal(copy.from, salon.login.jid)
})

test('a read receipt on demand: the status goes to READ', async () => {
  const { key } = await sendText(client, salon.store, salon.contact.jid, 'Прочитайте, пожалуйста')
  await received(salon.contact.phone, key.id, 'the contact to receive it')
  const read = await emulator.call('POST', '/contacts/read', { phone: salon.contact.phone, id: key.id })
  assert.equal(read.status, 200, JSON.stringify(read.body))
  await until(() => statusOf(client, key.id) === Status.READ, 'the read receipt')
})

test('auto-read: the contact’s phone reads what it receives at once', async () => {
  const contact = (await emulator.call('POST', '/contacts', {})).body
  await emulator.call('POST', '/contacts/behaviour', { phone: contact.phone, autoRead: true })
  const { key } = await sendText(client, salon.store, contact.jid, 'Прочитается само')
  await until(() => statusOf(client, key.id) === Status.READ, 'the read receipt')
})

test('the contact answers: messages.upsert with the text and pushName, then sends go as msg, not pkmsg', async () => {
  const reply = await emulator.call('POST', '/contacts/send', {
    from: salon.contact.phone,
    to: salon.login.phone,
    text: 'Спасибо, буду!'
  })
  assert.equal(reply.status, 200, JSON.stringify(reply.body))
  assert.deepEqual(
    reply.body.devices,
    [{ jid: salon.login.jid, type: 'msg', queued: false }],
    'the contact answers on the session the salon started'
  )

  const { type, message } = await until(() => upserted(client, m => m.key.id === reply.body.id), 'messages.upsert')
  assert.equal(type, 'notify')
  assert.equal(textIn(message), 'Спасибо, буду!')
  assert.equal(message.pushName, 'Анна')
  assert.equal(message.key.remoteJid, salon.contact.jid)
  assert.equal(message.key.remoteJidAlt, salon.contact.lid, 'sender_lid gives Baileys the LID')
  assert.equal(message.key.fromMe, false)
  assert.equal(message.key.addressingMode, 'pn')

  const answered = await until(async () => {
    const sent = (await messagesOf(emulator, salon.contact.phone)).sent.find(m => m.id === reply.body.id)
    return sent?.receipts.length && sent
  }, 'the receipt Baileys answers with')
  assert.deepEqual(
    answered.receipts.map(({ from, type }) => ({ from, type })),
    [{ from: salon.login.jid, type: 'inactive' }],
    'no "available" presence sent: Baileys answers with an "inactive" receipt'
  )

  const { key } = await sendText(client, salon.store, salon.contact.jid, 'Ждём вас')
  assert.equal((await received(salon.contact.phone, key.id, 'the next message')).type, 'msg')
})

test('a LID-addressed message from the contact: remoteJid is the LID, remoteJidAlt the number', async () => {
  const sent = await emulator.call('POST', '/contacts/send', {
    from: salon.contact.phone,
    to: salon.login.phone,
    text: 'Можно перенести?',
    addressing: 'lid'
  })
  assert.equal(sent.status, 200, JSON.stringify(sent.body))
  const { message } = await until(() => upserted(client, m => m.key.id === sent.body.id), 'messages.upsert')
  assert.equal(textIn(message), 'Можно перенести?')
  assert.equal(message.key.remoteJid, salon.contact.lid)
  assert.equal(message.key.remoteJidAlt, salon.contact.jid)
  assert.equal(message.key.addressingMode, 'lid')
})

test('chat states: "composing" then "paused" are recorded with their times, before the message', async () => {
  await client.sock.sendPresenceUpdate('composing', salon.contact.jid)
  await client.sock.sendPresenceUpdate('paused', salon.contact.jid)
  const { key } = await sendText(client, salon.store, salon.contact.jid, 'Печатал и отправил')
  const message = await received(salon.contact.phone, key.id, 'the message')
  const states = (await emulator.call('GET', `/chatstates?phone=${salon.login.phone}`)).body
  assert.deepEqual(
    states.map(({ kind, state, to, from }) => ({ kind, state, to, from })),
    [
      { kind: 'chatstate', state: 'composing', to: salon.contact.jid, from: salon.login.jid },
      { kind: 'chatstate', state: 'paused', to: salon.contact.jid, from: salon.login.jid }
    ]
  )
  assert.ok(states[0].at <= states[1].at && states[1].at <= message.at)
})

test('presence: "available" is recorded, and Baileys’ receipts then say delivered instead of inactive', async () => {
  // Baileys sends presences only with a push name; a business account's pair-success brings one
  salon.login.auth.creds.me.name = 'Салон «Лилия»'
  await client.sock.sendPresenceUpdate('available')
  const states = (await emulator.call('GET', `/chatstates?phone=${salon.login.phone}`)).body
  assert.deepEqual(
    states.filter(s => s.kind === 'presence').map(({ state, from }) => ({ state, from })),
    [{ state: 'available', from: salon.login.jid }]
  )

  const sent = await emulator.call('POST', '/contacts/send', { from: salon.contact.phone, to: salon.login.phone, text: 'Вы онлайн?' })
  const answered = await until(async () => {
    const message = (await messagesOf(emulator, salon.contact.phone)).sent.find(m => m.id === sent.body.id)
    return message?.receipts.length && message
  }, 'the receipt')
  assert.equal(answered.receipts[0].type, 'delivery')
})

test('while the login is offline the contact’s message waits, and arrives in the offline batch at the next login', async () => {
  client.sock.end(undefined)
  await client.closed()
  const sent = await emulator.call('POST', '/contacts/send', { from: salon.contact.phone, to: salon.login.phone, text: 'Вы тут?' })
  assert.equal(sent.status, 200, JSON.stringify(sent.body))
  assert.equal(sent.body.devices[0].queued, true)

  client = await openSalon(emulator, salon)
  const { type, message } = await until(() => upserted(client, m => m.key.id === sent.body.id), 'the queued message')
  assert.equal(type, 'append', 'Baileys upserts messages of the offline batch as "append", not "notify"')
  assert.equal(textIn(message), 'Вы тут?')
  await client.next('connection.update', u => u.receivedPendingNotifications === true, 5_000, 'the end of the offline batch')
})

test('a restarted socket with the stored keys: both directions still work', async () => {
  client.sock.end(undefined)
  await client.closed()
  client = await openSalon(emulator, salon)

  const { key } = await sendText(client, salon.store, salon.contact.jid, 'После перезапуска')
  assert.equal((await received(salon.contact.phone, key.id, 'the message after the restart')).text, 'После перезапуска')
  await until(() => statusOf(client, key.id) === Status.DELIVERY_ACK, 'the delivery receipt')

  const reply = await emulator.call('POST', '/contacts/send', { from: salon.contact.phone, to: salon.login.phone, text: 'Получила' })
  const { message } = await until(() => upserted(client, m => m.key.id === reply.body.id), 'the answer')
  assert.equal(textIn(message), 'Получила')
  client.sock.end(undefined)
})
