// Prints, one per line in hex, every change of a document edited with the
// JS automerge library in every way Rapport or another automerge-repo app
// might: text splices and marks, lists, nested maps, counters, deletes,
// long strings (compressed chunks), two actors merging, commit messages.
// sync-server/tests/interop.rs checks each passes the relay's payload
// check (automerge-rs must re-encode a change to its own hash).
//
//   node changes.mjs

import * as A from "@automerge/automerge"

let a = A.from({ list: [], map: {}, notes: "", c: new A.Counter(0) })
let b = A.clone(a)
for (let i = 0; i < 60; i++) {
  const edit = (d) => {
    d.list.insertAt(0, i, `item ${i}`)
    A.splice(d, ["notes"], 0, 0, `héllo wörld 🙂 ${i} `)
    d.map[`k${i % 7}`] = i / 3
    d.map.bytes = new Uint8Array([1, 2, 3, i])
    d.c.increment(2)
    if (i % 4 === 1) {
      d.list.deleteAt(1)
      A.splice(d, ["notes"], 2, 3)
      A.mark(d, ["notes"], { start: 1, end: 4, expand: "after" }, "bold", true)
    }
    if (i % 5 === 2) {
      delete d.map.bytes
      d.map.nested = { when: new Date(i * 1000), n: null, ok: true, big: 2 ** 40 }
    }
    if (i % 9 === 0) {
      d.map.long = "x".repeat(2000) + i // large enough for a compressed chunk
    }
  }
  if (i % 3 === 0) b = A.change(b, { message: `edit ${i}`, time: i }, edit)
  else a = A.change(a, edit)
  if (i % 7 === 6) {
    a = A.merge(a, b)
    b = A.merge(b, a)
  }
}
a = A.merge(a, b)
a = A.loadIncremental(A.init(), A.save(a)) // and changes of a loaded document
a = A.change(a, (d) => { d.after = "load" })
for (const change of A.getAllChanges(a)) {
  console.log(Buffer.from(change).toString("hex"))
}
