//! `berth push NAME[:TAG]`.

use berth_registry::push::{self, BlobOutcome, PushEvent};
use berth_registry::{Client, ClientOptions, Reference};

use super::{find_image, open_store, runtime, CliError, Global, Result};

#[derive(clap::Args)]
pub struct PushArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG]
    name: String,
}

pub fn push(g: &Global, a: PushArgs) -> Result<()> {
    let dest: Reference = a.name.parse()?;
    let tagged = dest
        .tagged_name()
        .ok_or_else(|| CliError::Usage(format!("push needs a tag, not a digest: {}", a.name)))?;
    let store = open_store(g)?;
    // Like Docker, push what the name itself points at.
    let found = find_image(&store, &tagged)?;
    if found.by_name.as_deref() != Some(tagged.as_str()) {
        return Err(CliError::NoSuchImage(format!(
            "{} (hint: berth tag IMAGE {} first)",
            a.name, a.name
        )));
    }
    let client = Client::new(ClientOptions {
        insecure_registries: g.insecure_registries.clone(),
        ..Default::default()
    })?;
    if !a.quiet {
        println!("The push refers to repository [{}]", dest.familiar_name());
    }
    let quiet = a.quiet;
    let observe = move |e: PushEvent| {
        if quiet {
            return;
        }
        let PushEvent::Blob { digest, outcome } = e;
        match outcome {
            BlobOutcome::Exists => println!("{}: Layer already exists", digest.short()),
            BlobOutcome::Mounted { from } => println!("{}: Mounted from {from}", digest.short()),
            BlobOutcome::Uploaded => println!("{}: Pushed", digest.short()),
        }
    };
    let pushed =
        runtime()?.block_on(push::push(&client, &store, &found.record, &dest, &observe))?;
    if a.quiet {
        println!("{}", dest);
    } else {
        println!(
            "{}: digest: {} size: {}",
            dest.tag().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        );
    }
    Ok(())
}
