//! The expansion names nothing from the prelude: shadowing `Option`, `Some`, `None`, `Ok`,
//! `Box`, `Vec`, `String` and `Cow` in the caller's scope changes nothing.
#![allow(dead_code, non_camel_case_types)]

struct Option;
struct Some;
struct None;
struct Ok;
struct Box;
struct Vec;
struct String;
struct Cow;
struct Duration;
mod core {}
mod std {}

fn main() {
    let rules = ratelimit::ratelimit! {
        "^/towns" => [second = 1 block_time = 60 zone = "z" @default, method = POST unlimited @admin],
        r"^/user/\d+" => [deny],
    };
    ::core::assert_eq!(rules.routes().len(), 2);
}
