// The WhatsApp Web version the sockets announce. The server refuses a stale one with
// <failure reason="405">; when WA_BRIDGE_VERSION_URL is set, such a refusal makes the bridge read
// the current version there (WhatsApp Web's sw.js, read the way Baileys' fetchLatestWaWebVersion
// does) and use it for the sockets it builds from then on.

const VERSION = /^(\d+)\.(\d+)\.(\d+)$/
// sw.js holds the revision inside an escaped JSON string: \"client_revision\":1043857760
const CLIENT_REVISION = /\\?"client_revision\\?":\s*(\d+)/
const FETCH_TIMEOUT_MS = 10_000
// Refusals that come together (every session of the bridge at once) share one fetch.
const REFETCH_AFTER_MS = 60_000
// What Baileys sends too: WhatsApp Web answers plain clients differently.
const HEADERS = {
  'sec-fetch-site': 'none',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
}

/** "2.3000.1043857760" -> [2, 3000, 1043857760], or null. */
export const parseWaVersion = text => {
  const match = VERSION.exec(text)
  return match ? match.slice(1).map(Number) : null
}

export const formatWaVersion = version => version.join('.')

const compare = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

export const createWaVersion = ({ initial, url, logger }) => {
  let current = initial
  let lastFetch = null // { at, promise: version or null }

  const fetchLatest = async () => {
    const response = await fetch(url, { headers: HEADERS, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
    if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`)
    const revision = CLIENT_REVISION.exec(await response.text())?.[1]
    if (!revision) throw new Error(`no client_revision in ${url}`)
    return [2, 3000, Number(revision)]
  }

  const latest = () => {
    if (!lastFetch || Date.now() - lastFetch.at > REFETCH_AFTER_MS) {
      const promise = fetchLatest().catch(err => {
        logger.warn({ err }, 'could not read the current WhatsApp Web version')
        return null
      })
      lastFetch = { at: Date.now(), promise }
    }
    return lastFetch.promise
  }

  return {
    /** The version for the next socket. */
    current: () => current,

    /**
     * A socket announcing `used` was refused with 405. Resolves true when the sockets built from
     * now on announce a newer version (read from the URL now, or already by an earlier refusal).
     */
    refreshAfterRefusal: async used => {
      if (!url) return false
      if (compare(current, used) > 0) return true
      const found = await latest()
      if (!found || compare(found, used) <= 0) return false
      if (compare(found, current) > 0) {
        logger.warn({ from: formatWaVersion(current), to: formatWaVersion(found) }, 'WhatsApp Web version refreshed after a 405')
        current = found
      }
      return true
    }
  }
}
