// Connect's Transport names the DOM's HeadersInit. Node's types have the Headers class but not
// that name, and the server compiles without DOM types, so it is named here from Headers.
// (The web app compiles with DOM types, and this file is outside its tsconfig.)
type HeadersInit = ConstructorParameters<typeof Headers>[0];
