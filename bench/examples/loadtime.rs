use std::time::Instant;
use automerge::Automerge;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let t = Instant::now();
    let doc = Automerge::load(&bytes).unwrap();
    println!("load {:?}", t.elapsed());
    let t = Instant::now();
    let _doc2 = Automerge::load_unverified_heads(&bytes).unwrap();
    println!("load_unverified {:?}", t.elapsed());
    let t = Instant::now();
    let v = doc.hydrate(None);
    println!("hydrate all {:?}", t.elapsed());
    drop(v);
    let t = Instant::now();
    let data = rapport_core::doc::DocData::read(&doc, rapport_core::doc::Parts::ALL).unwrap();
    println!("autosurgeon all {:?} ({} acts)", t.elapsed(), data.activities.len());
    let t = Instant::now();
    let _ = rapport_core::doc::DocData::read(&doc, rapport_core::doc::Parts::PEOPLE).unwrap();
    println!("autosurgeon people {:?}", t.elapsed());
}
