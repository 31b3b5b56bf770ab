//! GeoIP enrichment: fills city, country, region, latitude and longitude from a MaxMind City
//! database, cached per IP; records which database did it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::geoip2;

use crate::error::{Error, Result};
use crate::schema::Row;

/// A location as written into the row.
#[derive(Debug, Clone, PartialEq)]
pub struct Geo {
    pub city: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

pub use crate::schema::GeoProvenance;

/// A GeoIP City database opened once and shared by the decode threads (the reader is
/// immutable); each thread keeps its own `GeoCache`.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<GeoIp> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| Error::GeoIp {
            path: path.into(),
            source,
        })?;
        Ok(GeoIp { reader })
    }

    /// Opens a database held in memory (the built-in fixture).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoIp> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|source| Error::GeoIp {
            path: "<built-in fixture>".into(),
            source,
        })?;
        Ok(GeoIp { reader })
    }

    pub fn provenance(&self) -> GeoProvenance {
        let m = self.reader.metadata();
        GeoProvenance {
            database_type: m.database_type.clone(),
            build_epoch: m.build_epoch,
        }
    }

    /// Looks an address up. Private, reserved and unknown addresses, and database errors on
    /// one record, give `None`: enrichment is best effort and must never reject an event.
    pub fn lookup(&self, ip: IpAddr) -> Option<Geo> {
        if !is_public(ip) {
            return None;
        }
        let found = self.reader.lookup(ip).ok()?;
        let city: geoip2::City = found.decode().ok()??;
        let geo = Geo {
            city: city.city.names.english.map(str::to_string),
            country: city.country.names.english.map(str::to_string),
            region: city
                .subdivisions
                .first()
                .and_then(|s| s.names.english)
                .map(str::to_string),
            latitude: city.location.latitude,
            longitude: city.location.longitude,
        };
        let empty = geo.city.is_none() && geo.country.is_none() && geo.latitude.is_none();
        (!empty).then_some(geo)
    }
}

/// Addresses a [`GeoCache`] keeps before it starts over (and frees its table): about 25 MiB
/// per decode thread at most (a 25-byte slot in a table of at most 2^19, the text of at most
/// `MAX_IP_TEXT` bytes, the names of located addresses), whatever the input. A chunk of input
/// may add its own addresses past the bound before the next check.
pub const MAX_CACHED: usize = 200_000;

/// A per-thread cache in front of a `GeoIp`: audit logs repeat the same few hundred
/// addresses millions of times, and a lookup walks the tree and decodes a map.
pub struct GeoCache<'a> {
    geo: &'a GeoIp,
    /// Keyed by the address as written: a hit costs a hash of a few bytes, not two parses
    /// (prime and fill) of the text (5 % of decoding).
    /// Boxed: most addresses of a hostile stream locate nowhere, and a `None` slot is 8 bytes.
    cache: HashMap<Box<str>, Option<Box<Geo>>>,
}

/// The longest text an IP address is written in (`ffff:…:255.255.255.255`): a longer `ip`
/// is not one, and is neither parsed nor cached (a hostile record's long text must not fill
/// the cache).
const MAX_IP_TEXT: usize = 45;

impl<'a> GeoCache<'a> {
    pub fn new(geo: &'a GeoIp) -> Self {
        Self {
            geo,
            cache: HashMap::new(),
        }
    }

    /// Fills the row's location columns from its `ip`, if any (the names copied: for rows
    /// that outlive the cache's next insert).
    pub fn enrich(&mut self, row: &mut Row<'_>) {
        self.begin();
        self.prime(row);
        if let Some(g) = self.cached(row) {
            let owned = |s: &Option<String>| s.clone().map(std::borrow::Cow::Owned);
            row.city = owned(&g.city);
            row.country = owned(&g.country);
            row.region = owned(&g.region);
            row.latitude = g.latitude;
            row.longitude = g.longitude;
        }
    }

    /// Starts a batch of rows to prime and fill: the cache is emptied here when it holds more
    /// than [`MAX_CACHED`] addresses (adversarial input, every event from a new address), never
    /// between a row's `prime` and its `fill`.
    pub fn begin(&mut self) {
        if self.cache.len() > MAX_CACHED {
            // A new table, not a cleared one: clear() keeps the largest table ever grown.
            self.cache = HashMap::new();
        }
    }

    /// Looks the row's `ip` up, so that [`GeoCache::fill`] finds it.
    pub fn prime(&mut self, row: &Row<'_>) {
        let Some(text) = row.ip.as_deref().filter(|s| s.len() <= MAX_IP_TEXT) else {
            return;
        };
        if !self.cache.contains_key(text) {
            let geo = text
                .parse::<IpAddr>()
                .ok()
                .and_then(|ip| self.geo.lookup(ip))
                .map(Box::new);
            self.cache.insert(text.into(), geo);
        }
    }

    fn cached(&self, row: &Row<'_>) -> Option<&Geo> {
        let text = row.ip.as_deref().filter(|s| s.len() <= MAX_IP_TEXT)?;
        self.cache.get(text)?.as_deref()
    }

    /// Fills the location columns of a row [`GeoCache::prime`]d before, borrowing the names
    /// from the cache (a batch of rows is primed, then filled, then built: the addresses of
    /// audit logs repeat, and copying three names per row was a tenth of decoding).
    pub fn fill<'c>(&'c self, row: &mut Row<'c>) {
        if let Some(g) = self.cached(row) {
            let borrowed = |s: &'c Option<String>| s.as_deref().map(std::borrow::Cow::Borrowed);
            row.city = borrowed(&g.city);
            row.country = borrowed(&g.country);
            row.region = borrowed(&g.region);
            row.latitude = g.latitude;
            row.longitude = g.longitude;
        }
    }
}

/// Is this a globally routable address? Private, loopback, link-local, shared (CGNAT),
/// documentation, multicast and other reserved ranges have no meaningful location.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared address space
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
                || o[0] >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation 2001:db8::/32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_are_not_public() {
        for ip in [
            "10.1.2.3",
            "192.168.1.1",
            "172.16.5.4",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} should not be public");
        }
        for ip in [
            "81.2.69.142",
            "8.8.8.8",
            "2a02:8108::1",
            "::ffff:81.2.69.142",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    /// A record's address is found through the cache whether it is a hit or a miss; texts
    /// that are not addresses (or too long to be one) are not located; and a stream of
    /// distinct addresses never grows the cache past its bound.
    #[test]
    fn the_cache_locates_by_text_and_stays_bounded() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/geoip/auditlake-test-city.mmdb");
        let geo = GeoIp::open(&path).unwrap();
        let mut cache = GeoCache::new(&geo);
        let row = |ip: &str| Row {
            ip: Some(std::borrow::Cow::Owned(ip.to_string())),
            ..Default::default()
        };
        let direct = geo.lookup("81.2.69.142".parse().unwrap());
        assert!(direct.is_some(), "the fixture locates 81.2.69.142");
        for _ in 0..2 {
            let mut r = row("81.2.69.142");
            cache.enrich(&mut r);
            assert_eq!(r.city.as_deref(), direct.as_ref().unwrap().city.as_deref());
        }
        for text in ["not an ip", "10.0.0.1", &"1".repeat(MAX_IP_TEXT + 1)] {
            let mut r = row(text);
            cache.enrich(&mut r);
            assert_eq!((r.city, r.latitude), (None, None), "{text}");
        }
        let mut largest = 0;
        for i in 0..(MAX_CACHED as u32 + 1000) {
            let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i).to_string();
            cache.begin();
            cache.prime(&row(&ip));
            largest = largest.max(cache.cache.len());
        }
        assert!(largest <= MAX_CACHED + 1, "{largest}");
    }
}
