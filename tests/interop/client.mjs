// A JS automerge-repo 2.5.6 client of rapport-relay, driven by
// sync-server/tests/interop.rs. It authenticates the way a browser must:
// the token in the query string, and the repo's peer id in `?peer=`.
//
//   node client.mjs create WS_BASE HTTP_BASE TEAM TOKEN PEER
//       creates a document, registers it with the team, syncs it,
//       prints "URL automerge:..."
//   node client.mjs read WS_BASE HTTP_BASE TEAM TOKEN PEER URL
//       prints "DOC <json>", then appends "from js" to items and syncs

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [mode, wsBase, httpBase, team, token, peer, url] = process.argv.slice(2)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function connect(repo) {
  const q = `token=${encodeURIComponent(token)}&peer=${encodeURIComponent(peer)}`
  repo.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(`${wsBase}/v1/sync?${q}`))
}

const repo = new Repo({ peerId: peer, network: [] })

if (mode === "create") {
  const handle = repo.create({ from: "js", items: ["one"] })
  // Register before syncing: the relay serves only registered documents.
  const res = await fetch(`${httpBase}/v1/teams/${team}/docs/${handle.url}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}` },
  })
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`)
  connect(repo)
  await sleep(1500)
  console.log(`URL ${handle.url}`)
} else if (mode === "read") {
  connect(repo)
  const handle = await repo.find(url)
  console.log(`DOC ${JSON.stringify(handle.doc())}`)
  handle.change((d) => {
    d.items.push("from js")
  })
  await sleep(1500)
} else {
  throw new Error(`unknown mode ${mode}`)
}
process.exit(0)
