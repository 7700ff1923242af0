//! `bot-detection` (priority 2500): as Kong's plugin, the `User-Agent` (trimmed)
//! is let through when it matches an `allow` regex, refused with 403
//! `{"message":"Forbidden"}` when it matches a `deny` regex or one of Kong's
//! known-bot patterns (its `rules.lua`, from ua-parser); a request without one
//! goes on, one with several gets 400 `Only one User-Agent header allowed`.
//! Verdicts are cached per User-Agent, as Kong does.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use graphql_schema::plugin_config::bot_detection::BotDetectionConfig;
use http::{StatusCode, header};
use regex::bytes::RegexSet;

use crate::plugin::{Ctx, Flow, Plugin};

/// Kong's `kong/plugins/bot-detection/rules.lua` (taken from ua-parser's
/// regexes.yaml), PCRE without UTF mode: matched on bytes, `\w` and `\b` ASCII.
const BOTS: &[&str] = &[
    r"(Pingdom\.com_bot_version_)(\d+)\.(\d+)",
    r"(facebookexternalhit)/(\d+)\.(\d+)",
    r"Google.*/\+/web/snippet",
    r"(Twitterbot)/(\d+)\.(\d+)",
    r"\b(Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/(\d+)\.(\d+)(?:\.(\d+)|)",
    r" PTST/\d+(?:\.)?\d+$",
    r"/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?",
    r"\b(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|OgScrper|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)",
    r"(MSIE) (\d+)\.(\d+)([a-z]\d|[a-z]|);.* MSIECrawler",
    r"(Google-HTTP-Java-Client|Apache-HttpClient|Go-http-client|scalaj-http|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP|okhttp|aihttp|reqwest|axios|unirest-(?:java|python|ruby|nodejs|php|net))(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)",
    r"(CSimpleSpider|Cityreview Robot|CrawlDaddy|CrawlFire|Finderbots|Index crawler|Job Roboter|KiwiStatus Spider|Lijit Crawler|QuerySeekerSpider|ScollSpider|Trends Crawler|USyd-NLP-Spider|SiteCat Webbot|BotName\/\$BotVersion|123metaspider-Bot|1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]{1,30}-Agent|AdsBot-Google(?:-[a-z]{1,30}|)|altavista|AppEngine-Google|archive.{0,30}\.org_bot|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider(?:-[A-Za-z]{1,30})(?:-[A-Za-z]{1,30}|)|bingbot|BingPreview|blitzbot|BlogBridge|Bloglovin|BoardReader Blog Indexer|BoardReader Favicon Fetcher|boitho.com-dc|BotSeer|BUbiNG|\b\w{0,30}favicon\w{0,30}\b|\bYeti(?:-[a-z]{1,30}|)|Catchpoint(?: bot|)|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa(?:-feedfetcher|)|Feed Seeker Bot|Feedbin|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro(?:/mobile|)|IconSurf|IlTrovatore(?:-Setaccio|)|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]{1,30}Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masscan|masidani_bot|Mediapartners-Google|Microsoft .{0,30} Bot|mogimogi|mozDex|MJ12bot|msnbot(?:-media {0,2}|)|msrbot|Mtps Feed Aggregation System|netresearch|Netvibes|NewsGator[^/]{0,30}|^NING|Nutch[^/]{0,30}|Nymesis|ObjectsSearch|OgScrper|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Qwantify|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|SemrushBot|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slackbot-LinkExpanding|Slack-ImgProxy|Slurp|snappy|Speedy Spider|Squrl Java|Stringer|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|Tiny Tiny RSS|Twitterbot|WhatsApp|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]{1,30}|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s|) Link Sleuth|Xerka [A-z]{1,30}Bot|yacy(?:bot|)|YahooSeeker|Yahoo! Slurp|Yandex\w{1,30}|YodaoBot(?:-[A-z]{1,30}|)|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|)",
    r"(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
    r"(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})) (\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
    r"((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)",
];

/// Kong's bot list, compiled once for every instance.
static BOT_SET: LazyLock<Result<RegexSet, String>> = LazyLock::new(|| {
    RegexSet::new(BOTS.iter().map(|r| format!("(?-u){r}"))).map_err(|e| e.to_string())
});

/// How many User-Agents an instance remembers the verdict of (Kong: 10^4).
const CACHE_ENTRIES: usize = 10_000;
/// Longer User-Agents are checked every time, not remembered.
const CACHE_MAX_LEN: usize = 512;

pub struct BotDetection {
    allow: RegexSet,
    deny: RegexSet,
    bots: &'static RegexSet,
    /// User-Agent -> refused?
    cache: RwLock<HashMap<Box<[u8]>, bool>>,
}

impl BotDetection {
    pub fn new(cfg: BotDetectionConfig) -> Result<BotDetection, String> {
        let bots = BOT_SET
            .as_ref()
            .map_err(|e| format!("bot-detection rules: {e}"))?;
        Ok(BotDetection {
            allow: RegexSet::new(&cfg.allow).map_err(|e| format!("allow: {e}"))?,
            deny: RegexSet::new(&cfg.deny).map_err(|e| format!("deny: {e}"))?,
            bots,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// Kong's `examine_agent`: allowed first, then denied, then known bots.
    fn refused(&self, ua: &[u8]) -> bool {
        if self.allow.is_match(ua) {
            return false;
        }
        self.deny.is_match(ua) || self.bots.is_match(ua)
    }

    fn verdict(&self, ua: &[u8]) -> bool {
        if ua.len() > CACHE_MAX_LEN {
            return self.refused(ua);
        }
        if let Ok(c) = self.cache.read()
            && let Some(v) = c.get(ua)
        {
            return *v;
        }
        let v = self.refused(ua);
        if let Ok(mut c) = self.cache.write() {
            if c.len() >= CACHE_ENTRIES {
                c.clear();
            }
            c.insert(ua.into(), v);
        }
        v
    }
}

impl Plugin for BotDetection {
    fn name(&self) -> &'static str {
        "bot-detection"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let mut agents = ctx.headers.get_all(header::USER_AGENT).iter();
        let Some(ua) = agents.next() else {
            return Flow::Continue;
        };
        if agents.next().is_some() {
            return Flow::Respond(crate::plugins::message(
                StatusCode::BAD_REQUEST,
                "Only one User-Agent header allowed",
            ));
        }
        if self.verdict(ua.as_bytes().trim_ascii()) {
            return Flow::Respond(crate::plugins::message(StatusCode::FORBIDDEN, "Forbidden"));
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bd(allow: &[&str], deny: &[&str]) -> BotDetection {
        BotDetection::new(BotDetectionConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn kongs_rules_compile_and_match_bots() {
        let b = bd(&[], &[]);
        for ua in [
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "facebookexternalhit/1.1",
            "Twitterbot/1.0",
            "python-requests/2.31 Python-urllib/3.11",
            "Go-http-client/1.1",
            "aws-cli/2.15.0 Python/3.11",
            "Scrapy/2.11 (+https://scrapy.org)",
            "Apache-HttpClient/4.5.13 (Java/17)",
            "masscan/1.3",
        ] {
            assert!(b.verdict(ua.as_bytes()), "{ua}");
        }
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "curl/8.5.0",
        ] {
            assert!(!b.verdict(ua.as_bytes()), "{ua}");
        }
    }

    #[test]
    fn allow_comes_first_then_deny() {
        let b = bd(&["^Googlebot"], &["^curl/", "evil"]);
        assert!(!b.verdict(b"Googlebot/2.1"), "allowed before the bot list");
        assert!(b.verdict(b"curl/8.5.0"));
        assert!(b.verdict(b"my evil agent"));
        assert!(!b.verdict(b"Mozilla/5.0"));
        // cached verdicts are the same
        assert!(b.verdict(b"curl/8.5.0"));
        assert!(!b.verdict(b"Googlebot/2.1"));
    }
}
