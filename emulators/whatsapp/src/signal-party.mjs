// The Signal side of a device the emulator plays itself (a contact's phone, a salon's primary phone):
// identity key pair, registration id, signed pre-key, one-time pre-keys and sessions, in memory.
// The object is libsignal's storage interface; sessions are kept serialized, as Baileys keeps them.
import libsignal from 'libsignal'

const { keyhelper, ProtocolAddress, SessionBuilder, SessionCipher, SessionRecord } = libsignal

const SIGNED_PRE_KEY_ID = 1
const strip = key => key.subarray(1) // libsignal's 33-byte public key -> 32 bytes on the wire

export class SignalParty {
  /** `identity`: an existing Curve key pair ({public, private}, 32 bytes each), e.g. an account's key. */
  constructor(identity) {
    this.identity = identity
      ? { pubKey: Buffer.concat([Buffer.from([5]), identity.public]), privKey: Buffer.from(identity.private) }
      : keyhelper.generateIdentityKeyPair()
    this.registrationId = keyhelper.generateRegistrationId()
    this.signedPreKey = keyhelper.generateSignedPreKey(this.identity, SIGNED_PRE_KEY_ID)
    this.preKeys = new Map() // one-time pre-keys handed out in a bundle and not used yet
    this.nextPreKeyId = 1
    this.sessions = new Map() // address -> serialized SessionRecord
  }

  /** A bundle for someone starting a session with this device, with a fresh one-time pre-key. */
  takeBundle() {
    const preKey = keyhelper.generatePreKey(this.nextPreKeyId++)
    this.preKeys.set(preKey.keyId, preKey.keyPair)
    return {
      registrationId: this.registrationId,
      identityKey: strip(this.identity.pubKey),
      signedPreKey: {
        id: this.signedPreKey.keyId,
        public: strip(this.signedPreKey.keyPair.pubKey),
        signature: this.signedPreKey.signature
      },
      preKey: { id: preKey.keyId, public: strip(preKey.keyPair.pubKey) }
    }
  }

  hasSession(address) {
    return this.sessions.has(address.toString())
  }

  /** Starts an outgoing session from the other device's bundle (libsignalDevice form). */
  startSession(address, device) {
    return new SessionBuilder(this, address).initOutgoing(device)
  }

  forget(address) {
    this.sessions.delete(address.toString())
  }

  /** -> {type: 'pkmsg' | 'msg', ciphertext} */
  async encrypt(address, plaintext) {
    const { type, body } = await new SessionCipher(this, address).encrypt(plaintext)
    return { type: type === 3 ? 'pkmsg' : 'msg', ciphertext: Buffer.from(body, 'binary') }
  }

  decrypt(address, type, ciphertext) {
    const cipher = new SessionCipher(this, address)
    return type === 'pkmsg'
      ? cipher.decryptPreKeyWhisperMessage(Buffer.from(ciphertext))
      : cipher.decryptWhisperMessage(Buffer.from(ciphertext))
  }

  // libsignal storage interface. Identities are trusted on first use, as WhatsApp does.
  isTrustedIdentity() {
    return true
  }

  loadSession(id) {
    const serialized = this.sessions.get(id)
    return serialized && SessionRecord.deserialize(serialized)
  }

  storeSession(id, record) {
    this.sessions.set(id, record.serialize())
  }

  loadPreKey(id) {
    return this.preKeys.get(id)
  }

  removePreKey(id) {
    this.preKeys.delete(id)
  }

  loadSignedPreKey(id) {
    return id === this.signedPreKey.keyId ? this.signedPreKey.keyPair : undefined
  }

  getOurRegistrationId() {
    return this.registrationId
  }

  getOurIdentity() {
    return this.identity
  }
}

/** The address an emulated device keeps its session with a device under: its LID user and device id. */
export const signalAddress = (lidUser, deviceId) => new ProtocolAddress(`${lidUser}_1`, deviceId)
