// The reference JS sync server, set up as automerge-repo-sync-server does it
// (NodeWSServerAdapter + node-fs storage), for the relay throughput
// benchmark (bench/src/bin/relay_load.rs). No auth, no teams: it syncs
// every document with every peer.
//
//   node server.mjs DATA_DIR
//       listens on 127.0.0.1 (a free port) and prints "LISTENING <port>"

import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const [dir] = process.argv.slice(2)
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 16 * 1024 * 1024 })
const listening = new Promise((resolve) => wss.on("listening", resolve))

const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: "js-sync-server",
  // As the sync server: do not push documents to peers unasked.
  sharePolicy: async () => false,
})

// The adapter starts handling sockets only once the repo has connected it,
// after its storage id is known: announce the port after that, or early
// clients are ignored and then dropped by the keep-alive.
await listening
await repo.storageId()
await new Promise((r) => setTimeout(r, 200))
console.log(`LISTENING ${wss.address().port}`)

for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0))
