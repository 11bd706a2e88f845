// Answers `iq xmlns=usync`: for each <user> asked, the protocols listed in <query> that the emulator
// knows, as Baileys' USyncQuery parsers read them:
// - devices: the user's device list. Only device 0 (the phone) is listed: the emulator plays the
//   phones itself, and it does not relay to other linked devices;
// - lid: the user's LID. Baileys drops a phone-number user without one from the send;
// - contact: whether the number is on WhatsApp (onWhatsApp() asks by number: <contact>+7999…</contact>).
// A number without an account gets an empty device list, no LID and contact type "out".
import { getAllBinaryNodeChildren, getBinaryNodeChild, getBinaryNodeChildren, isLidUser, jidEncode } from 'baileys'

const contactJid = content => jidEncode(Buffer.from(content ?? '').toString().replace(/\D/g, ''), 's.whatsapp.net')

const PROTOCOLS = {
  devices: user => ({
    tag: 'devices',
    attrs: {},
    content: [
      { tag: 'device-list', attrs: {}, content: user ? [{ tag: 'device', attrs: { id: '0' } }] : [] },
      { tag: 'key-index-list', attrs: { ts: String(Math.floor(Date.now() / 1000)) } }
    ]
  }),
  lid: (user, jid) => (user && !isLidUser(jid) ? { tag: 'lid', attrs: { val: user.lid } } : null),
  contact: user => ({ tag: 'contact', attrs: { type: user ? 'in' : 'out' } })
}

/** `lookup(jid)` -> the registered user ({lid}) on that number or LID, or undefined. */
export const usyncResult = (iq, lookup) => {
  const usync = getBinaryNodeChild(iq, 'usync')
  const protocols = getAllBinaryNodeChildren(getBinaryNodeChild(usync, 'query'))
    .map(node => node.tag)
    .filter(tag => PROTOCOLS[tag])
  const users = getBinaryNodeChildren(getBinaryNodeChild(usync, 'list'), 'user').map(node => {
    const jid = node.attrs.jid ?? contactJid(getBinaryNodeChild(node, 'contact')?.content)
    const user = lookup(jid)
    return {
      tag: 'user',
      attrs: { jid },
      content: protocols.map(tag => PROTOCOLS[tag](user, jid)).filter(Boolean)
    }
  })
  return [
    {
      tag: 'usync',
      attrs: usync.attrs,
      content: [
        { tag: 'result', attrs: {}, content: protocols.map(tag => ({ tag, attrs: {} })) },
        { tag: 'list', attrs: {}, content: users }
      ]
    }
  ]
}
