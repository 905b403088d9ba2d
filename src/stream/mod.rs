//! The stream cycle's wire level: how a message is written (XADD), read (XREADGROUP), recovered
//! (XAUTOCLAIM) and acknowledged (XACK), and how the logical stream is sharded over masters.
//!
//! A message carries `m = "<producer>:<seq>:<sent_us>"` and a payload `d`: enough for the
//! checker to know exactly which message it is and for the latency to be measured end to end.

mod commands;
mod message;
mod reply;
mod shards;

pub use commands::{
    create_group, master_of, send, send_pipeline, xack_cmd, xadd_capped_cmd, xadd_cmd,
    xautoclaim_cmd, xreadgroup_cmd,
};
pub use message::{now_us, EntryId, MessageTag};
pub use reply::{
    entries, parse_entries, parse_xautoclaim, parse_xreadgroup, reply_bytes, xautoclaim_parts,
    xreadgroup_entries, AutoClaim, Delivery,
};
pub use shards::Shards;
