//! The DSL's syntax: tokens to a syntax tree that keeps every token (and so its span).
//!
//! ```text
//! input    = route ("," route)* ","?
//! route    = PATTERN "=>" "[" rule ("," rule)* ","? "]"
//! rule     = item+ ("@" GROUP)?
//! item     = KEY ("=" VALUE ("|" VALUE)*)?
//! KEY      = IDENT | DURATION                 (`second`, `cost`, … or `10s`)
//! ```
//!
//! Only the shape is checked here: which keys exist, what values they take and how rules
//! combine is the [checker's](crate::check) work, so that one invocation reports every
//! such mistake at once. A syntax error stops the parse at its token.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Lit, LitInt, LitStr, Token, bracketed};

/// The first and last token of a piece of input, so that an error can underline all of it
/// (on stable Rust a span cannot be joined, but an error can start and end at two tokens).
#[derive(Debug, Clone, Copy)]
pub struct SpanRange {
    /// The first token's span.
    pub first: Span,
    /// The last token's span.
    pub last: Span,
}

impl SpanRange {
    /// A range of one token.
    #[must_use]
    pub const fn single(span: Span) -> Self {
        Self {
            first: span,
            last: span,
        }
    }

    /// An error underlining the whole range.
    #[must_use]
    pub fn error(self, message: impl std::fmt::Display) -> syn::Error {
        let ends: TokenStream = [
            TokenTree::Ident(Ident::new("first", self.first)),
            TokenTree::Ident(Ident::new("last", self.last)),
        ]
        .into_iter()
        .collect();
        syn::Error::new_spanned(ends, message)
    }
}

/// A whole `ratelimit! { … }` input.
#[derive(Debug)]
pub struct RoutesInput {
    /// The routes, in declaration order.
    pub routes: Vec<RouteInput>,
}

/// `PATTERN => [rule, …]`.
#[derive(Debug)]
pub struct RouteInput {
    /// The pattern's string literal.
    pub pattern: LitStr,
    /// The `[…]` holding the rules.
    pub bracket: SpanRange,
    /// The rules, in declaration order.
    pub rules: RulesInput,
}

/// A comma-separated rule list: the inside of a route's `[…]`, and the whole input of
/// `#[rate_limited(…)]`.
#[derive(Debug)]
pub struct RulesInput {
    /// The rules, in declaration order.
    pub rules: Vec<RuleInput>,
}

/// `item+ (@ GROUP)?`.
#[derive(Debug)]
pub struct RuleInput {
    /// The items, in order; empty when the rule is only a group (`@admin`), which the
    /// checker reports.
    pub items: Vec<ItemInput>,
    /// The `@ GROUP`, if given.
    pub group: Option<GroupInput>,
    /// The whole rule.
    pub span: SpanRange,
}

/// `@ GROUP`.
#[derive(Debug)]
pub struct GroupInput {
    /// The `@`.
    pub at: Token![@],
    /// The group's name.
    pub name: NameInput,
}

/// A name written as an identifier or a string literal.
#[derive(Debug, Clone)]
pub enum NameInput {
    /// `admin`.
    Ident(Ident),
    /// `"admin"`.
    Str(LitStr),
}

impl NameInput {
    /// The name's text.
    #[must_use]
    pub fn value(&self) -> String {
        match self {
            Self::Ident(ident) => ident.unraw().to_string(),
            Self::Str(lit) => lit.value(),
        }
    }

    /// The name's span.
    #[must_use]
    pub fn span(&self) -> Span {
        match self {
            Self::Ident(ident) => ident.span(),
            Self::Str(lit) => lit.span(),
        }
    }
}

/// What an item starts with: a name, or a window written as a duration.
#[derive(Debug, Clone)]
pub enum KeyInput {
    /// `second`, `zone`, `unlimited`, … or a typo.
    Name(Ident),
    /// `10s`, `5m`: a window of that length (the checker reads the number and the unit).
    Window(LitInt),
}

impl KeyInput {
    /// The key as written (an identifier without its `r#`).
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Name(ident) => ident.unraw().to_string(),
            Self::Window(lit) => lit.to_string(),
        }
    }

    /// The key's span.
    #[must_use]
    pub fn span(&self) -> Span {
        match self {
            Self::Name(ident) => ident.span(),
            Self::Window(lit) => lit.span(),
        }
    }
}

impl std::fmt::Display for KeyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// `KEY` or `KEY = VALUE`.
#[derive(Debug)]
pub struct ItemInput {
    /// The key (`second`, `zone`, `unlimited`, `10s`, … or a typo).
    pub key: KeyInput,
    /// `= VALUE`, if given.
    pub value: Option<(Token![=], ValueInput)>,
}

/// The value after `=`: whatever single token was written, kept for the checker to judge.
#[derive(Debug, Clone)]
pub enum ValueInput {
    /// A literal: `10`, `1.5`, `60s`, `"api"`.
    Lit(Lit),
    /// An identifier: `GET`.
    Ident(Ident),
    /// A minus sign and a literal: `-1`.
    Negative(Token![-], Lit),
    /// Any other single token tree.
    Other(TokenTree),
    /// Values joined by `|`: `401 | 403 | 5xx` (two or more).
    Or(Vec<ValueInput>),
}

impl ValueInput {
    /// The whole value.
    #[must_use]
    pub fn span(&self) -> SpanRange {
        match self {
            Self::Lit(lit) => SpanRange::single(lit.span()),
            Self::Ident(ident) => SpanRange::single(ident.span()),
            Self::Negative(minus, lit) => SpanRange {
                first: minus.span,
                last: lit.span(),
            },
            Self::Other(tree) => SpanRange::single(tree.span()),
            Self::Or(values) => {
                let first = values.first().map(|value| value.span().first);
                let last = values.last().map(|value| value.span().last);
                match (first, last) {
                    (Some(first), Some(last)) => SpanRange { first, last },
                    _ => SpanRange::single(Span::call_site()),
                }
            }
        }
    }
}

impl Parse for RoutesInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let routes = Punctuated::<RouteInput, Token![,]>::parse_terminated(input)?;
        Ok(Self {
            routes: routes.into_iter().collect(),
        })
    }
}

impl Parse for RouteInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if !input.peek(LitStr) {
            return Err(input.error(
                "expected a route pattern: a string literal like \"^/api\", then `=> [rules]`",
            ));
        }
        let pattern: LitStr = input.parse()?;
        if !input.peek(Token![=>]) {
            return Err(input
                .error("expected `=>` and the route's rules, as in `\"^/api\" => [second = 10]`"));
        }
        input.parse::<Token![=>]>()?;
        if !input.peek(syn::token::Bracket) {
            return Err(input.error(
                "expected the route's rules in brackets, as in `[second = 10, unlimited @admin]`",
            ));
        }
        let content;
        let bracket = bracketed!(content in input);
        let rules = content.parse()?;
        Ok(Self {
            pattern,
            bracket: SpanRange {
                first: bracket.span.open(),
                last: bracket.span.close(),
            },
            rules,
        })
    }
}

impl Parse for RulesInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let rules = Punctuated::<RuleInput, Token![,]>::parse_terminated(input)?;
        Ok(Self {
            rules: rules.into_iter().collect(),
        })
    }
}

impl Parse for RuleInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let start = input.span();
        let mut items = Vec::new();
        while input.peek(Ident::peek_any) || input.peek(LitInt) {
            items.push(input.parse()?);
        }
        let group = if input.peek(Token![@]) {
            Some(input.parse()?)
        } else {
            None
        };
        if !(input.is_empty() || input.peek(Token![,])) {
            return Err(input.error(
                "expected a rule item (`second = 10`, `10s = 3`, `unlimited`, `deny`, \
                 `block_time = 60`, `zone = \"name\"`, `method = GET`, `shadow`, `global`, \
                 `cost = 2`, `count_if = 401`), `@group`, or `,` before the next rule",
            ));
        }
        let last = group
            .as_ref()
            .map(|group: &GroupInput| group.name.span())
            .or_else(|| items.last().map(|item: &ItemInput| item.span().last))
            .unwrap_or(start);
        Ok(Self {
            items,
            group,
            span: SpanRange { first: start, last },
        })
    }
}

impl Parse for GroupInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let at = input.parse()?;
        let name = if input.peek(LitStr) {
            NameInput::Str(input.parse()?)
        } else if input.peek(Ident::peek_any) {
            NameInput::Ident(input.call(Ident::parse_any)?)
        } else {
            return Err(input.error(
                "expected a group name after `@`: an identifier like `@admin` or a string like `@\"admin\"`",
            ));
        };
        Ok(Self { at, name })
    }
}

impl Parse for ItemInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = if input.peek(LitInt) {
            KeyInput::Window(input.parse()?)
        } else {
            KeyInput::Name(input.call(Ident::parse_any)?)
        };
        let value = if input.peek(Token![=]) && !input.peek(Token![=>]) {
            let eq = input.parse()?;
            let first: ValueInput = input.parse()?;
            let mut values = vec![first];
            while input.peek(Token![|]) {
                input.parse::<Token![|]>()?;
                if input.is_empty() || input.peek(Token![,]) || input.peek(Token![@]) {
                    return Err(input.error("expected a value after `|`"));
                }
                values.push(input.parse()?);
            }
            let value = if values.len() == 1 {
                values.pop().unwrap_or(ValueInput::Or(Vec::new()))
            } else {
                ValueInput::Or(values)
            };
            Some((eq, value))
        } else {
            None
        };
        Ok(Self { key, value })
    }
}

impl ItemInput {
    /// The key through the value.
    #[must_use]
    pub fn span(&self) -> SpanRange {
        let last = self
            .value
            .as_ref()
            .map_or_else(|| self.key.span(), |(_, value)| value.span().last);
        SpanRange {
            first: self.key.span(),
            last,
        }
    }
}

impl Parse for ValueInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![-]) && input.peek2(Lit) {
            return Ok(Self::Negative(input.parse()?, input.parse()?));
        }
        if input.peek(Lit) {
            return Ok(Self::Lit(input.parse()?));
        }
        if input.peek(Ident::peek_any) {
            return Ok(Self::Ident(input.call(Ident::parse_any)?));
        }
        if input.is_empty() || input.peek(Token![,]) || input.peek(Token![@]) {
            return Err(input.error("expected a value after `=`"));
        }
        Ok(Self::Other(input.parse()?))
    }
}

/// Parses the input of `ratelimit! { … }`.
///
/// # Errors
///
/// The first syntax error, at its token.
pub fn parse_routes(tokens: TokenStream) -> syn::Result<RoutesInput> {
    syn::parse2(tokens)
}

/// Parses a rule list (the input of `#[rate_limited(…)]`).
///
/// # Errors
///
/// The first syntax error, at its token.
pub fn parse_rules(tokens: TokenStream) -> syn::Result<RulesInput> {
    syn::parse2(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn parses_the_design_example() {
        let input = parse_routes(quote! {
            "^/towns"    => [second = 1 @default, unlimited @admin],
            r"^/user/\d+" => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
            "^/upload"   => [method = POST minute = 3, unlimited @"admin"],
        })
        .expect("valid syntax");
        assert_eq!(input.routes.len(), 3);
        let towns = &input.routes[0];
        assert_eq!(towns.pattern.value(), "^/towns");
        assert_eq!(towns.rules.rules.len(), 2);
        let first = &towns.rules.rules[0];
        assert_eq!(first.items[0].key.name(), "second");
        assert!(matches!(
            first.items[0].value,
            Some((_, ValueInput::Lit(_)))
        ));
        assert_eq!(
            first.group.as_ref().map(|g| g.name.value()),
            Some("default".into())
        );
        let upload = &input.routes[2].rules.rules;
        assert!(matches!(
            upload[0].items[0].value,
            Some((_, ValueInput::Ident(_)))
        ));
        assert_eq!(
            upload[1].group.as_ref().map(|g| g.name.value()),
            Some("admin".into())
        );
    }

    #[test]
    fn accepts_trailing_commas_and_negative_values() {
        let input = match parse_routes(quote!("^/a" => [second = -1,],)) {
            Ok(input) => input,
            Err(err) => panic!("{err}"),
        };
        let item = &input.routes[0].rules.rules[0].items[0];
        assert!(matches!(item.value, Some((_, ValueInput::Negative(..)))));
    }

    #[test]
    fn syntax_errors_say_what_was_expected() {
        let err = parse_routes(quote!(towns => [second = 1])).expect_err("not a string");
        assert_eq!(
            err.to_string(),
            "expected a route pattern: a string literal like \"^/api\", then `=> [rules]`"
        );
        let err = parse_routes(quote!("^/a"[second = 1])).expect_err("no arrow");
        assert_eq!(
            err.to_string(),
            "expected `=>` and the route's rules, as in `\"^/api\" => [second = 10]`"
        );
        let err = parse_routes(quote!("^/a" => second = 1)).expect_err("no brackets");
        assert_eq!(
            err.to_string(),
            "expected the route's rules in brackets, as in `[second = 10, unlimited @admin]`"
        );
        let err = parse_rules(quote!(second = 1 @, minute = 1)).expect_err("no group");
        assert_eq!(
            err.to_string(),
            "expected a group name after `@`: an identifier like `@admin` or a string like `@\"admin\"`"
        );
        let err = parse_rules(quote!(second = , minute = 1)).expect_err("no value");
        assert_eq!(err.to_string(), "expected a value after `=`");
        // A literal after a value is a stray token where an item should be, not the start of
        // a negative number.
        let err = parse_rules(quote!(second = 5 "stray")).expect_err("a stray literal");
        assert!(err.to_string().starts_with("expected a rule item"), "{err}");
    }

    #[test]
    fn values_joined_by_a_bar_are_one_value_spanning_them_all() {
        let tokens: TokenStream = "count_if = 401 | 403 | 5xx".parse().expect("tokens");
        let rules = parse_rules(tokens).expect("valid syntax");
        let (_, value) = rules.rules[0].items[0].value.as_ref().expect("a value");
        let ValueInput::Or(values) = value else {
            panic!("{value:?}");
        };
        assert_eq!(values.len(), 3);
        let span = value.span();
        assert_eq!(span.first.start().column, 11, "from `401`");
        assert_eq!(span.last.start().column, 23, "to `5xx`");
    }

    #[test]
    fn a_bar_needs_a_value_after_it() {
        for input in [
            "count_if = 401 |",
            "count_if = 401 |, second = 1",
            "count_if = 401 | @g",
        ] {
            let tokens: TokenStream = input.parse().expect("tokens");
            let err = parse_rules(tokens).expect_err(input);
            // At the end of the input syn says so first.
            let message = err.to_string();
            assert!(
                message.ends_with("expected a value after `|`"),
                "{input}: {message}"
            );
        }
    }
}
