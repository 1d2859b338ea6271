//! [`Rules`]: the routes a `ratelimit! { … }` declares, and which rule applies to a request.

use std::fmt;

use ratelimit_core::__private::path_head;
use ratelimit_core::{Route, Rule};

/// The routes and rules of one `ratelimit! { … }` invocation (or of a rules file read at run
/// time: see [`Rules::from_routes`]).
///
/// Cheap to copy: it is a reference to `static` data the macro generated, so it can live in a
/// `let`, a `static` or a `const`. Regex patterns are compiled once, on first use; plain
/// patterns never touch a regex.
///
/// Selecting a rule for a request follows the original `asgi-ratelimit`'s semantics: the
/// routes whose pattern matches the path (anchored at its start, query string ignored; the
/// path as written or percent-decoded, see [`matching`](Self::matching)) are walked in
/// declaration order, and in each the first rule for the identity's group and the request's
/// method (compared without case; a rule without `method` takes every method; a `HEAD`
/// request is taken as a `GET` unless a rule names `HEAD`, see [`Route::rule_for`](crate::Route::rule_for))
/// applies. A matching route without such a rule falls through to the next one; no rule at
/// all means the request is not limited.
///
/// ```
/// use ratelimit::{ratelimit, Rules};
///
/// static RULES: Rules = ratelimit! {
///     "^/upload" => [method = POST minute = 3, unlimited @admin],
///     "^/"       => [second = 10],
/// };
///
/// // A POST to /upload by the default group: the first route's first rule.
/// let upload = RULES.select("/upload?x=1", "post", "default").expect("a rule");
/// assert_eq!(upload.route.pattern().source(), "^/upload");
/// assert_eq!(upload.rule.limits()[0].count(), 3);
///
/// // A GET falls through to the second route.
/// let get = RULES.select("/upload", "GET", "default").expect("a rule");
/// assert_eq!(get.route.pattern().source(), "^/");
///
/// // The admin group has a rule only on the first route.
/// assert!(RULES.select("/elsewhere", "GET", "admin").is_none());
/// ```
#[derive(Clone, Copy)]
pub struct Rules {
    routes: &'static [Route],
}

/// The route and rule that apply to a request.
#[derive(Clone, Copy, Debug)]
pub struct Selection {
    /// The first matching route that has a rule for the request.
    pub route: &'static Route,
    /// The first rule of that route for the request's group and method.
    pub rule: &'static Rule,
}

impl Rules {
    /// Rules from routes that have already been checked; this is what `ratelimit!` expands
    /// to.
    #[must_use]
    pub const fn from_static(routes: &'static [Route]) -> Self {
        Self { routes }
    }

    /// Rules from routes built at run time: by [`Rules::parse`] or [`Rules::from_file`]
    /// (feature `rules-file`), or from the model's checked constructors.
    ///
    /// The routes are leaked, so that these rules are `Copy` and match exactly as the macro's
    /// `static` ones do (the same code, no indirection): they stay in memory for the life of
    /// the program. Build rules once per change of the rules (a reload), not per request;
    /// each costs about the size of its text.
    #[must_use]
    pub fn from_routes(routes: Vec<Route>) -> Self {
        Self {
            routes: Box::leak(routes.into_boxed_slice()),
        }
    }

    /// No routes: a layer built with these limits nothing itself, and serves
    /// `#[rate_limited]` handlers only.
    #[must_use]
    pub const fn none() -> Self {
        Self { routes: &[] }
    }

    /// The routes, in declaration order.
    #[must_use]
    pub const fn routes(&self) -> &'static [Route] {
        self.routes
    }

    /// The routes whose pattern matches `path`, in declaration order, matched lazily.
    ///
    /// A route matches when its pattern matches the path as written **or** with its
    /// percent-escapes decoded (a router decodes them before a handler sees them, so
    /// `/user/%31` is `/user/1` to a `Path<u32>`); a bad escape (`%zz`) is kept as it is.
    /// `path` may carry a query string: it is ignored. Costs a scan for `%`, and a decoded
    /// copy of a path that has escapes.
    #[must_use]
    pub fn matching<'p>(&self, path: &'p str) -> Matching<'p> {
        let path = path.split_once('?').map_or(path, |(path, _query)| path);
        Matching {
            routes: self.routes.iter(),
            path,
            head: path_head(path),
            decoded: crate::path::decoded(path),
        }
    }

    /// The route and rule that apply to a request, or `None` when the request is not
    /// limited.
    #[must_use]
    pub fn select(&self, path: &str, method: &str, group: &str) -> Option<Selection> {
        self.matching(path).select(method, group)
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.routes).finish()
    }
}

/// The routes that match one path, in declaration order; see [`Rules::matching`].
///
/// Each pattern is tried only when the iteration reaches it, so a middleware can ask whether
/// any route matches (to decide whether to authenticate at all) and then
/// [`select`](Self::select) from the same iterator without matching twice.
#[derive(Clone, Debug)]
pub struct Matching<'p> {
    routes: std::slice::Iter<'static, Route>,
    path: &'p str,
    /// The path's first bytes, which rule most routes out in one comparison.
    head: u64,
    /// The path with its escapes decoded, when it has any.
    decoded: Option<String>,
}

impl Matching<'_> {
    /// The path being matched, without its query string.
    #[must_use]
    pub const fn path(&self) -> &str {
        self.path
    }

    /// Walks the remaining matching routes for the first rule for `group` and `method`.
    #[must_use]
    pub fn select(self, method: &str, group: &str) -> Option<Selection> {
        self.into_iter().find_map(|route| {
            route
                .rule_for(group, method)
                .map(|rule| Selection { route, rule })
        })
    }
}

impl Iterator for Matching<'_> {
    type Item = &'static Route;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (path, head, decoded) = (self.path, self.head, self.decoded.as_deref());
        self.routes.find(|route| {
            route.pattern().is_match_with_head(path, head)
                || decoded.is_some_and(|decoded| route.pattern().is_match(decoded))
        })
    }
}
