// Rules for the pass case: every form of the grammar.
"^/towns"    => [second = 1 @default, unlimited @admin],
r"^/user/\d+" => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
/* a block comment */
"^/upload"   => [method = POST minute = 3, unlimited @admin],
"^/banned"   => [deny @blocked_tier],
