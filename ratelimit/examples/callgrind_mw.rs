//! Temporary: instructions per request of the middleware routers (not committed).
#[path = "../benches/peers/mod.rs"]
mod peers;

#[inline(never)]
fn run_requests(app: &axum::Router, requests: Vec<http::Request<axum::body::Body>>) -> usize {
    let mut ok = 0;
    for request in requests {
        ok += usize::from(peers::send(app, request) == http::StatusCode::OK);
    }
    ok
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("router name");
    let n: usize = args.next().expect("count").parse().expect("a number");
    let apps = peers::middleware_apps();
    let app = &apps.iter().find(|(id, _)| *id == name).expect("known").1;
    let requests: Vec<_> = (0..n).map(|_| peers::request()).collect();
    assert_eq!(std::hint::black_box(run_requests(app, requests)), n);
}
