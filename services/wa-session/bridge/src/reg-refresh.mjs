// companion_reg_refresh (Baileys #2737): the server retires the adv secret that an unpaired
// companion's QR advertises; a phone that scans that QR reports "Couldn't link device". rc14
// ignores it. What WA Web does: 32 new random bytes as the adv secret, the current QR shown again
// with it, and an ack.
import { randomBytes } from 'node:crypto'

/**
 * `inPairingCodeFlow()` says whether this socket asked for a pairing code: there the adv secret
 * is derived from the code exchange, and rotating it breaks the pairing ("Invalid account
 * signature"). `onRotated(secret)` re-renders the QR.
 */
export const handleRegRefresh = ({ sock, inPairingCodeFlow, ackBeforeLogin, onRotated, logger }) => {
  let linkCodeSeen = false
  sock.ws.on('CB:notification,type:link_code_companion_reg', () => {
    linkCodeSeen = true
  })
  sock.ws.on('CB:notification,type:companion_reg_refresh', node => {
    ackBeforeLogin(node)
    const creds = sock.authState.creds
    // Not creds.pairingCode: Baileys never clears it.
    if (creds.me || creds.registered || linkCodeSeen || inPairingCodeFlow()) {
      logger.info('companion_reg_refresh outside the QR flow: the adv secret stays')
      return
    }
    // Before anything awaits: Baileys checks pair-success against whatever this field holds then.
    creds.advSecretKey = randomBytes(32).toString('base64')
    sock.ev.emit('creds.update', { advSecretKey: creds.advSecretKey })
    logger.info('companion_reg_refresh: adv secret rotated, QR re-rendered')
    onRotated(creds.advSecretKey)
  })
}
