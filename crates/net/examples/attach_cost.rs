//! What the default network costs a `run --rm`: the time of the network
//! steps (netns, attach, detach, netns removal) against `--network none`
//! (netns only). Run it in a throwaway network and mount namespace, as
//! `bench/net.sh` does:
//!
//! ```sh
//! unshare --net --mount --propagation private target/release/examples/attach_cost 200
//! ```
//!
//! Prints medians and 90th percentiles in microseconds for four cases, each
//! iteration being what a `run --rm` does (create the netns, attach, detach,
//! remove the netns): `none` (netns only); `bridge` (default network, its
//! bridge kept up as configured by default); `bridge -p` (publishing one
//! port); `no-keep` (the bridge and berth's table made and removed every time).

use std::time::{Duration, Instant};

use berth_net::{create_netns, parse_publish, remove_netns, AttachOptions, NetConfig, Networks};

fn stats(mut v: Vec<Duration>) -> (u128, u128) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_micros();
    (at(0.5), at(0.9))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100);
    let tmp = std::env::temp_dir().join(format!("berth-net-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let ns = tmp.join("ns");
    let open = |keep: bool, dir: &str| {
        let config = NetConfig {
            keep_default_bridge: keep,
            ..NetConfig::default()
        };
        Networks::open(
            &tmp.join(dir).join("state"),
            &tmp.join(dir).join("run"),
            config,
        )
    };
    let cycle = |nets: Option<&Networks>,
                 label: &str,
                 opts: AttachOptions|
     -> Result<(), Box<dyn std::error::Error>> {
        let (mut total, mut att, mut det) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let id = format!("c{i}");
            let t0 = Instant::now();
            create_netns(&ns)?;
            if let Some(nets) = nets {
                let t = Instant::now();
                nets.attach("bridge", &id, &ns, opts.clone())?;
                att.push(t.elapsed());
                let t = Instant::now();
                nets.detach(&id)?;
                det.push(t.elapsed());
            }
            remove_netns(&ns)?;
            total.push(t0.elapsed());
        }
        let (m, p) = stats(total);
        print!("{label:<10} total median {m:>6} us  p90 {p:>6} us");
        if !att.is_empty() {
            let ((am, _), (dm, _)) = (stats(att), stats(det));
            print!("   attach median {am:>6} us  detach median {dm:>6} us");
        }
        println!();
        Ok(())
    };
    let kept = open(true, "kept")?;
    cycle(None, "none", AttachOptions::default())?;
    cycle(Some(&kept), "bridge", AttachOptions::default())?;
    let published = AttachOptions {
        ports: parse_publish("18080:80")?,
        ..Default::default()
    };
    cycle(Some(&kept), "bridge -p", published)?;
    cycle(
        Some(&open(false, "unkept")?),
        "no-keep",
        AttachOptions::default(),
    )?;
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}
