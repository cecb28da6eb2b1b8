// A floor for the router's CPU in another runtime: a bare proxy on tokio's current-thread runtime (one thread on
// epoll, as nginx's worker; no scheduler of its own beside it) with hyper's server and pooled client, the body read
// whole before it is forwarded, as the router does; no routing, metrics, answer parse or admission.
// bench/profile_router.py runs it beside the router, the Go floor and nginx.
//
//     floor-rust LISTEN UPSTREAM        e.g. floor-rust 127.0.0.1:8081 http://127.0.0.1:8082
use std::net::SocketAddr;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{server::conn::http1, service::service_fn, Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: floor-rust LISTEN UPSTREAM");
        std::process::exit(2);
    }
    let listen: SocketAddr = args[1].parse().expect("LISTEN is HOST:PORT");
    let upstream: String = args[2].clone(); // http://HOST:PORT
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let listener = TcpListener::bind(listen).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            let upstream = upstream.clone();
            tokio::task::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let client = client.clone();
                    let upstream = upstream.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let uri = format!("{}{}", upstream, parts.uri.path());
                        let mut out = Request::builder().method(parts.method).uri(uri);
                        if let Some(ct) = parts.headers.get(hyper::header::CONTENT_TYPE) {
                            out = out.header(hyper::header::CONTENT_TYPE, ct);
                        }
                        let resp = client.request(out.body(Full::new(body)).unwrap()).await;
                        let resp = match resp {
                            Ok(r) => r,
                            Err(_) => return Ok::<_, hyper::Error>(Response::builder().status(502).body(Full::new(Bytes::new())).unwrap()),
                        };
                        let (rparts, rbody) = resp.into_parts();
                        let rbytes = rbody.collect().await?.to_bytes();
                        let mut r = Response::builder().status(rparts.status);
                        if let Some(ct) = rparts.headers.get(hyper::header::CONTENT_TYPE) {
                            r = r.header(hyper::header::CONTENT_TYPE, ct);
                        }
                        Ok(r.body(Full::new(rbytes)).unwrap())
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
