// What the server keeps of a logged-in device's Signal keys (registration id, identity key, signed
// pre-key, one-time pre-keys), and the pre-key bundle others fetch to start a session with a device.
// On the wire keys are 32 bytes; libsignal wants them with the 0x05 type prefix (33 bytes).
import {
  encodeBigEndian,
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  getBinaryNodeChildren,
  getBinaryNodeChildUInt,
  KEY_BUNDLE_TYPE
} from 'baileys'

const readKey = node => ({
  id: getBinaryNodeChildUInt(node, 'id', 3),
  public: Buffer.from(getBinaryNodeChildBuffer(node, 'value'))
})

const readSignedKey = node => ({ ...readKey(node), signature: Buffer.from(getBinaryNodeChildBuffer(node, 'signature')) })

export class PreKeyStore {
  constructor() {
    this.registrationId = 0
    this.identityKey = null
    this.signedPreKey = null
    this.preKeys = new Map() // id -> public key, in upload order; a key handed out leaves the map
  }

  /** `iq xmlns=encrypt type=set`: registration, type, identity, list of keys, skey. Adds to what was there. */
  upload(iq) {
    this.registrationId = getBinaryNodeChildUInt(iq, 'registration', 4)
    this.identityKey = Buffer.from(getBinaryNodeChildBuffer(iq, 'identity'))
    this.signedPreKey = readSignedKey(getBinaryNodeChild(iq, 'skey'))
    for (const node of getBinaryNodeChildren(getBinaryNodeChild(iq, 'list'), 'key')) {
      const key = readKey(node)
      this.preKeys.set(key.id, key.public)
    }
  }

  /** `encrypt rotate`: a new signed pre-key. */
  rotate(iq) {
    this.signedPreKey = readSignedKey(getBinaryNodeChild(getBinaryNodeChild(iq, 'rotate'), 'skey'))
  }

  get count() {
    return this.preKeys.size
  }

  /** A bundle with the oldest one-time pre-key, which is then off the list (none left: a bundle without). */
  takeBundle() {
    const bundle = { registrationId: this.registrationId, identityKey: this.identityKey, signedPreKey: this.signedPreKey }
    const [first] = this.preKeys
    if (first) {
      this.preKeys.delete(first[0])
      bundle.preKey = { id: first[0], public: first[1] }
    }
    return bundle
  }
}

const keyNode = (tag, key) => ({
  tag,
  attrs: {},
  content: [
    { tag: 'id', attrs: {}, content: encodeBigEndian(key.id, 3) },
    { tag: 'value', attrs: {}, content: key.public },
    ...(key.signature ? [{ tag: 'signature', attrs: {}, content: key.signature }] : [])
  ]
})

/** `<user jid>` of an `encrypt` key query answer, as Baileys' parseAndInjectE2ESessions reads it. */
export const bundleNode = (jid, bundle) => ({
  tag: 'user',
  attrs: { jid },
  content: [
    { tag: 'registration', attrs: {}, content: encodeBigEndian(bundle.registrationId, 4) },
    { tag: 'type', attrs: {}, content: Buffer.from(KEY_BUNDLE_TYPE) },
    { tag: 'identity', attrs: {}, content: bundle.identityKey },
    ...(bundle.preKey ? [keyNode('key', bundle.preKey)] : []),
    keyNode('skey', bundle.signedPreKey)
  ]
})

const prefixed = key => Buffer.concat([KEY_BUNDLE_TYPE, key])

/** The bundle in the form libsignal's SessionBuilder.initOutgoing takes. */
export const libsignalDevice = bundle => ({
  registrationId: bundle.registrationId,
  identityKey: prefixed(bundle.identityKey),
  signedPreKey: {
    keyId: bundle.signedPreKey.id,
    publicKey: prefixed(bundle.signedPreKey.public),
    signature: bundle.signedPreKey.signature
  },
  preKey: bundle.preKey && { keyId: bundle.preKey.id, publicKey: prefixed(bundle.preKey.public) }
})
