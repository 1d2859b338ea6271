// The rules of the `rules_file` example: what goes between the braces of `ratelimit! { … }`.
// Edit this file while the example runs: the new rules apply within two seconds. An edit
// with a mistake is logged (FILE:LINE:COL: message) and the rules in force stay.
"^/towns"     => [second = 1 @default, unlimited @admin],
"^/api"       => [minute = 10, minute = 100 @admin],
r"^/user/\d+" => [minute = 5 zone = "users", unlimited @admin],
/* Three tries a minute, then an hour's wait. */
"^/login"     => [minute = 3 block_time = 1h],
"^/banned"    => [deny @blocked],
