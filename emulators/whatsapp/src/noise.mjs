// Noise XX responder, the mirror image of Baileys' lib/Utils/noise-handler.js: same initial
// hash/salt/key from NOISE_MODE, the intro header mixed in first, one nonce counter shared by
// encrypt and decrypt and reset at every key mix, and swapped transport keys at the end.
import { Curve, NOISE_MODE, aesDecryptGCM, aesEncryptGCM, hkdf, proto, sha256 } from 'baileys'

const EMPTY = Buffer.alloc(0)

const counterIv = counter => {
  const iv = Buffer.alloc(12)
  iv.writeUInt32BE(counter, 8)
  return iv
}

/** AES-GCM with one counter per direction, used once the handshake is done. */
class Transport {
  constructor(encKey, decKey) {
    this.encKey = encKey
    this.decKey = decKey
    this.writeCounter = 0
    this.readCounter = 0
  }

  encrypt(plaintext) {
    return aesEncryptGCM(plaintext, this.encKey, counterIv(this.writeCounter++), EMPTY)
  }

  decrypt(ciphertext) {
    return aesDecryptGCM(ciphertext, this.decKey, counterIv(this.readCounter++), EMPTY)
  }
}

/** Symmetric handshake state; one instance per connection, dropped after `split()`. */
class HandshakeState {
  constructor() {
    const mode = Buffer.from(NOISE_MODE)
    this.hash = mode.length === 32 ? mode : sha256(mode)
    this.salt = this.hash
    this.key = this.hash
    this.counter = 0
  }

  authenticate(data) {
    this.hash = sha256(Buffer.concat([this.hash, data]))
  }

  mixIntoKey(data) {
    const out = hkdf(Buffer.from(data), 64, { salt: this.salt, info: '' })
    this.salt = out.subarray(0, 32)
    this.key = out.subarray(32)
    this.counter = 0
  }

  encrypt(plaintext) {
    const result = aesEncryptGCM(plaintext, this.key, counterIv(this.counter++), this.hash)
    this.authenticate(result)
    return result
  }

  decrypt(ciphertext) {
    const result = aesDecryptGCM(ciphertext, this.key, counterIv(this.counter++), this.hash)
    this.authenticate(ciphertext)
    return result
  }

  /** The initiator encrypts with the first half; the responder therefore decrypts with it. */
  split() {
    const out = hkdf(EMPTY, 64, { salt: this.salt, info: '' })
    return new Transport(out.subarray(32), out.subarray(0, 32))
  }
}

/**
 * Runs the responder side. `serverHello(introHeader, clientHelloBytes)` returns the HandshakeMessage to send;
 * `clientFinish(clientFinishBytes)` returns `{ clientStaticKey, payload, transport }`.
 */
export const makeNoiseResponder = ({ staticKey, certChain }) => {
  const state = new HandshakeState()
  const ephemeral = Curve.generateKeyPair()

  return {
    serverHello(introHeader, bytes) {
      state.authenticate(introHeader)
      const { clientHello } = proto.HandshakeMessage.decode(bytes)
      if (!clientHello?.ephemeral?.length) throw new Error('expected a client hello')
      const clientEphemeral = Buffer.from(clientHello.ephemeral)
      state.authenticate(clientEphemeral)
      state.authenticate(ephemeral.public)
      state.mixIntoKey(Curve.sharedKey(ephemeral.private, clientEphemeral))
      const staticEnc = state.encrypt(staticKey.public)
      state.mixIntoKey(Curve.sharedKey(staticKey.private, clientEphemeral))
      const payloadEnc = state.encrypt(certChain)
      return proto.HandshakeMessage.encode({
        serverHello: { ephemeral: ephemeral.public, static: staticEnc, payload: payloadEnc }
      }).finish()
    },

    clientFinish(bytes) {
      const { clientFinish } = proto.HandshakeMessage.decode(bytes)
      if (!clientFinish?.static || !clientFinish?.payload) throw new Error('expected a client finish')
      const clientStaticKey = state.decrypt(Buffer.from(clientFinish.static))
      state.mixIntoKey(Curve.sharedKey(ephemeral.private, clientStaticKey))
      const payload = proto.ClientPayload.decode(state.decrypt(Buffer.from(clientFinish.payload)))
      return { clientStaticKey, payload, transport: state.split() }
    }
  }
}
