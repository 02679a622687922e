//! The simulated contact center's data: its peripheral, skill groups and dialed numbers,
//! the agent roster, and the callers and call data every new call is made of.

use super::msgs::{AgentInfo, CallInfo, DeviceRec, SkillGroupRec};
use super::queue::SEC;
use super::rng::Rng;
use crate::cti::spec::values::call_type;

/// The one peripheral every agent, skill group and device belongs to.
pub const PERIPHERAL_ID: u32 = 5000;

const FIRST: [&str; 12] = [
    "Maria", "James", "Aiko", "Omar", "Lena", "Carlos", "Priya", "Noah", "Fatima", "Jonas", "Chloe", "Mateo",
];
const LAST: [&str; 12] = [
    "Garcia", "Smith", "Tanaka", "Haddad", "Schmidt", "Rossi", "Patel", "Brown", "Okafor", "Nilsen",
    "Martin", "Lopez",
];
const SKILLS: [&str; 4] = ["Sales", "Support", "Billing", "Retention"];
const AREA: [&str; 8] = ["415", "212", "312", "617", "206", "512", "303", "404"];
const INTENTS: [&str; 5] =
    ["billing_inquiry", "new_order", "tech_support", "cancel_service", "address_change"];
const PRODUCTS: [&str; 6] = ["FIBER-500", "MOBILE-UNL", "TV-BASIC", "HOME-PHONE", "CLOUD-1TB", "SECURITY"];

/// The number callers dial for a service (0..4).
fn dialed_number(service: u32) -> String {
    format!("800555{:04}", 100 + service)
}

/// Agent `i` of the roster: login id, extension, skill group and name.
pub fn agent(i: u32) -> AgentInfo {
    AgentInfo {
        id: format!("{}", 1001 + i),
        ext: format!("{}", 40001 + i),
        peripheral_id: PERIPHERAL_ID,
        skill_number: 100 + i % 4,
        skill_id: 5100 + i % 4,
        icm_agent_id: 7001 + i,
        first: FIRST[(i as usize * 7) % FIRST.len()],
        last: LAST[(i as usize * 5 + i as usize / 12) % LAST.len()],
    }
}

/// The service an agent's calls come in for.
pub fn service_of(a: &AgentInfo) -> u32 {
    a.skill_number - 100
}

/// The skill group configuration records.
pub fn skill_groups() -> Vec<SkillGroupRec> {
    (0..4)
        .map(|i| SkillGroupRec { number: 100 + i, id: 5100 + i, name: SKILLS[i as usize].to_string() })
        .collect()
}

/// The device configuration records: one route point per service.
pub fn devices() -> Vec<DeviceRec> {
    (0..4).map(|i| DeviceRec { number: 9000 + i, service: 2000 + i, dialed: dialed_number(i) }).collect()
}

/// Hands out call ids and router call keys, and makes up callers and their call data.
pub struct Calls {
    next_call_id: u32,
    next_router_call: u32,
}

impl Calls {
    /// Numbering starts at a point drawn from `rng`.
    pub fn new(rng: &mut Rng) -> Self {
        let next_call_id = 0x0100_0000 + (rng.next_u32() & 0xFFFF);
        let next_router_call = 1 + (rng.next_u32() & 0xFFFFF);
        Calls { next_call_id, next_router_call }
    }

    /// A new inbound call for `service`, arriving at time `now`.
    pub fn new_call(&mut self, r: &mut Rng, now: i64, service: u32) -> CallInfo {
        let call_id = self.next_call_id;
        self.next_call_id = self.next_call_id.wrapping_add(1 + r.below(3) as u32);
        self.next_router_call += 1;
        let ani = format!("+1{}5550{:03}", r.pick(&AREA), r.below(200));
        let dialed = dialed_number(service);
        let mut vars = vec![
            (1, format!("ACC-{:07}", r.below(10_000_000))),
            (2, r.pick(&["en-US", "es-US", "fr-CA"]).to_string()),
            (3, r.pick(&["gold", "silver", "bronze"]).to_string()),
        ];
        if r.chance(0.5) {
            vars.push((4, format!("ivr>main>{}", SKILLS[service as usize % 4].to_ascii_lowercase())));
        }
        let ecc = vec![
            ("user.CustomerID".to_string(), format!("{}", 100_000 + r.below(900_000))),
            ("user.Intent".to_string(), r.pick(&INTENTS).to_string()),
        ];
        let n_arr = r.below(3) as u8;
        let arrays =
            (0..n_arr).map(|i| (i, "user.Products".to_string(), r.pick(&PRODUCTS).to_string())).collect();
        let ced = if r.chance(0.6) { format!("{}", 10_000 + r.below(90_000)) } else { String::new() };
        CallInfo {
            call_id,
            call_type: call_type::CALLTYPE_ACD_IN,
            ani,
            dnis: dialed.clone(),
            dialed,
            ced,
            vars,
            ecc,
            arrays,
            router_day: 150_000 + (now / (86_400 * SEC)) as u32 % 1000,
            router_call: self.next_router_call,
            service: 2000 + service,
            wrapup: None,
        }
    }
}
