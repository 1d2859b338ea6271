// A typo on line 2.
"^/towns" => [secnd = 1],
