//! Who this tab is: user id, display name and world, from the address or
//! remembered for the tab.

use web_sys::{Storage, UrlSearchParams};

/// This tab's player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The user id, sent as the token (the demo server believes it).
    pub user: String,
    /// The display name asked for on entering.
    pub name: String,
    /// The resource id of the world to join.
    pub world: String,
}

const USER_KEY: &str = "hexfield.user";
const NAME_KEY: &str = "hexfield.name";

const ADJECTIVES: [&str; 8] = [
    "Amber", "Brisk", "Calm", "Dusky", "Eager", "Fleet", "Gentle", "Hardy",
];
const ANIMALS: [&str; 8] = [
    "Fox", "Heron", "Otter", "Lynx", "Wren", "Badger", "Hare", "Moth",
];

impl Me {
    /// Reads `?user=`, `?name=` and `?world=`; a missing user id or name is
    /// taken from this tab's session storage, or made up and stored there,
    /// so a reload keeps the same player.
    pub fn from_page() -> Me {
        let window = web_sys::window();
        let search = window
            .as_ref()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let params = UrlSearchParams::new_with_str(&search).ok();
        let param = |key: &str| params.as_ref().and_then(|p| p.get(key));
        let storage: Option<Storage> = window.and_then(|w| w.session_storage().ok().flatten());
        let stored = |key: &str| {
            storage
                .as_ref()
                .and_then(|s| s.get_item(key).ok().flatten())
        };

        let user = param("user")
            .map(|u| clean_id(&u))
            .filter(|u| !u.is_empty())
            .or_else(|| stored(USER_KEY))
            .unwrap_or_else(fresh_user);
        let name = param("name")
            .or_else(|| stored(NAME_KEY))
            .unwrap_or_else(|| made_up_name(&user));
        let world = param("world")
            .map(|w| clean_id(&w))
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "meadow".to_owned());
        if let Some(storage) = &storage {
            let _ = storage.set_item(USER_KEY, &user);
            let _ = storage.set_item(NAME_KEY, &name);
        }
        Me { user, name, world }
    }

    /// The realtime endpoint of this player's world, on the server that
    /// served the page. The user id travels as the token (in the
    /// `Sec-WebSocket-Protocol` header), not in the URL.
    pub fn url(&self) -> String {
        let location = web_sys::window().map(|w| w.location());
        let host = location
            .as_ref()
            .and_then(|l| l.host().ok())
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let secure = location
            .and_then(|l| l.protocol().ok())
            .is_some_and(|p| p == "https:");
        let scheme = if secure { "wss" } else { "ws" };
        format!("{scheme}://{host}/realtime/{}", self.world)
    }
}

/// Letters, digits, `-` and `_` only (so the id needs no escaping in a
/// URL), at most 32 of them.
fn clean_id(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect()
}

fn fresh_user() -> String {
    let n = (js_sys::Math::random() * f64::from(0x00ff_ffff_u32)) as u32;
    format!("u-{n:06x}")
}

fn made_up_name(user: &str) -> String {
    let hue = usize::from(demo_world::hue_for(user));
    format!("{} {}", ADJECTIVES[hue % 8], ANIMALS[(hue / 8) % 8])
}
