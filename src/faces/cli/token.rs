//! `auditlake token add|rm|ls`: the Flight SQL tokens file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::error::Result;
use crate::faces::flight;
use crate::tenant::TenantId;

/// Manage Flight SQL tokens.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token for a tenant: prints it once, stores only its SHA-256.
    Add {
        name: String,
        #[arg(long)]
        tenant: TenantId,
        #[arg(long)]
        tokens: PathBuf,
        /// The token expires this long from now (`90m`, `12h`, `30d`); default: never.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
    },
    /// Remove a token: it stops working at the server's next call.
    Rm {
        name: String,
        #[arg(long)]
        tokens: PathBuf,
    },
    /// List tokens: name, tenant, expiry.
    Ls {
        #[arg(long)]
        tokens: PathBuf,
    },
}

/// Longest token lifetime accepted: ten years (a longer one is a typo, and a far-future
/// expiry would not fit a timestamp).
pub const MAX_TTL_DAYS: u64 = 3650;

/// `30d` or any duration `config::parse_duration` reads, up to [`MAX_TTL_DAYS`].
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d = match s.strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("invalid ttl {s:?}"))?,
        None => crate::config::parse_duration(s)?,
    };
    if d > std::time::Duration::from_secs(MAX_TTL_DAYS * 86_400) {
        return Err(format!(
            "ttl {s:?} is out of range (at most {MAX_TTL_DAYS}d)"
        ));
    }
    Ok(d)
}

pub async fn run(cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Add {
            name,
            tenant,
            tokens,
            ttl,
        } => {
            let token = flight::add_token(&tokens, &name, &tenant, ttl)?;
            println!("{token}");
        }
        TokenCmd::Rm { name, tokens } => {
            flight::remove_token(&tokens, &name)?;
            println!("removed token '{name}'");
        }
        TokenCmd::Ls { tokens } => {
            for t in flight::list_tokens(&tokens)? {
                println!(
                    "{}\ttenant={}\texpires={}",
                    t.name,
                    t.tenant,
                    t.expires.as_deref().unwrap_or("never")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttl_out_of_range_is_refused() {
        assert!(super::parse_ttl("30d").is_ok());
        assert!(super::parse_ttl("90m").is_ok());
        for bad in [
            "213503982334602d",
            "18446744073709551615d",
            "3651d",
            "xd",
            "-1d",
        ] {
            assert!(super::parse_ttl(bad).is_err(), "{bad} accepted");
        }
    }
}
